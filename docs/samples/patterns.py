"""Patterns & best practices guide."""

from __future__ import annotations

import asyncio
from enum import Enum

from stellate.core import App, HTTPException, Request
from stellate.core.dataloader import DataLoader
from stellate.core.signing import SigningKey, TokenEngine
from stellate.core.testing import AppClient
from stellate.orm import Count, F, Field, Model, OnDelete, Q, on_commit, transaction
from stellate.orm.testing import assert_num_queries


# --8<-- [start:enum]
class TaskStatus(Enum):
    TODO = "todo"
    DOING = "doing"
    DONE = "done"


class Project(Model):
    class Meta:
        table = "pattern_projects"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()  # TEXT: no max_length needed in PostgreSQL


class Ticket(Model):
    class Meta:
        table = "pattern_tickets"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    status: TaskStatus = Field(default=TaskStatus.TODO)  # refuses anything else
    votes: int = Field(default=0, ge=0)
    project_id: int = Field(foreign_key=Project, related_name="tickets", on_delete=OnDelete.CASCADE)


# --8<-- [end:enum]


# --8<-- [start:thin]
app = App(plugins=["orm"])


async def close_ticket(ticket_id: int) -> Ticket:
    """The rule lives in one function the handler, a task and a test can all call."""
    updated = (
        await Ticket.objects.filter(id=ticket_id)
        .exclude(status=TaskStatus.DONE)
        .update(status=TaskStatus.DONE)
    )
    if not updated:
        raise HTTPException(409, f"Ticket {ticket_id} is already done or does not exist")
    return await Ticket.objects.get(pk=ticket_id)


@app.post("/tickets/{ticket_id:int}/close")
async def close(request: Request, ticket_id: int) -> dict[str, str]:
    ticket = await close_ticket(ticket_id)
    return {"status": ticket.status.value}


# --8<-- [end:thin]


async def main() -> None:
    # --8<-- [start:queries]
    project = await Project.objects.create(name="Docs")
    await Ticket.objects.bulk_create(
        [Ticket(title=f"T{i}", project_id=project.id, votes=i) for i in range(5)]
    )

    # One query with FILTER instead of one COUNT per status:
    async with assert_num_queries(1):
        stats = await Ticket.objects.aggregate(
            todo=Count("id", filter=Q(status=TaskStatus.TODO)),
            done=Count("id", filter=Q(status=TaskStatus.DONE)),
        )
    assert stats == {"todo": 5, "done": 0}

    # Atomic increments in SQL, never read-modify-write in Python:
    await Ticket.objects.filter(title="T0").update(votes=F("votes") + 1)

    # No N+1: the relation comes with the rows.
    async with assert_num_queries(1):
        tickets = await Ticket.objects.select_related("project").all()
        names = {ticket.project.name for ticket in tickets}
    assert names == {"Docs"}
    # --8<-- [end:queries]

    # --8<-- [start:dataloader]
    calls: list[list[int]] = []

    async def load_projects(ids: list[int]) -> list[Project | None]:
        calls.append(ids)
        found = {p.id: p for p in await Project.objects.filter(id__in=ids).all()}
        return [found.get(i) for i in ids]

    loader: DataLoader[int, Project | None] = DataLoader(batch_fn=load_projects)  # per request
    first, again = await asyncio.gather(loader.load(project.id), loader.load(project.id))
    assert first is again and calls == [[project.id]]  # batched and deduplicated
    # --8<-- [end:dataloader]

    # --8<-- [start:oncommit]
    sent: list[int] = []
    async with transaction():
        ticket = await Ticket.objects.create(title="New", project_id=project.id)
        on_commit(lambda: sent.append(ticket.id))  # runs after the outermost COMMIT only
    # --8<-- [end:oncommit]

    # --8<-- [start:signing]
    engine = TokenEngine(
        keys=[
            SigningKey("new-secret-" + "n" * 40, version=2),
            SigningKey("old-secret-" + "o" * 40, version=1),
        ],
        purpose="invite",
    )
    token = engine.encode_data({"project": project.id}, ttl=3600)
    assert engine.decode_data(token) == {"project": project.id}
    assert engine.with_purpose("password-reset").decode_data(token) is None  # wrong purpose
    # --8<-- [end:signing]

    async with AppClient(app) as client:
        closed = await client.post(f"/tickets/{ticket.id}/close")
        assert closed.json() == {"status": "done"}
        again_closed = await client.post(f"/tickets/{ticket.id}/close")
        assert again_closed.status_code == 409
