"""Reading a migrations folder: files, their order, squashes, and the head snapshot.

A migration is a Python file ``NNNN_name.py`` defining ``dependencies`` (the
migration it follows), ``operations`` and, for a squashed migration, ``replaces``.
History is linear: each migration depends on exactly one predecessor, so two
branches that each add a migration are reported (and their ``_state.json``
snapshots conflict in git) instead of being merged silently.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import msgspec

from stellate.orm.migrations.operations import Operation
from stellate.orm.migrations.state import ProjectState, StateError

__all__ = [
    "SNAPSHOT_FILE",
    "Migration",
    "MigrationFileError",
    "MigrationHistory",
    "Snapshot",
    "checksum",
    "load_history",
    "read_snapshot",
]

SNAPSHOT_FILE = "_state.json"
_NAME = re.compile(r"^(\d{4})_\w+$")


class MigrationFileError(Exception):
    """A migration file or the migration history is malformed."""


class Snapshot(msgspec.Struct, kw_only=True):
    """The committed ``_state.json``: the head migration and the state it produces."""

    head: str | None
    state: ProjectState


class Migration:
    """One migration file, loaded.

    Attributes:
        name: the file name without ``.py`` (``0002_add_books_isbn``).
        path: where the file is.
        dependencies: the migrations it follows (at most one: history is linear).
        operations: the operations, in order.
        replaces: for a squashed migration, the migrations it stands for.
        checksum: SHA-256 of the file, recorded when applied to detect later edits.
        atomic: run in one transaction (default); ``False`` only for hand-written
            migrations that must run statements outside a transaction.
    """

    __slots__ = ("atomic", "checksum", "dependencies", "name", "operations", "path", "replaces")

    def __init__(
        self,
        name: str,
        *,
        path: Path,
        dependencies: Sequence[str],
        operations: Sequence[Operation],
        replaces: Sequence[str] = (),
        checksum: str = "",
        atomic: bool = True,
    ) -> None:
        self.name = name
        self.path = path
        self.dependencies = list(dependencies)
        self.operations = list(operations)
        self.replaces = list(replaces)
        self.checksum = checksum
        self.atomic = atomic

    @property
    def number(self) -> int:
        """The leading number of the name."""
        return int(self.name[:4])

    def __repr__(self) -> str:
        return f"<Migration {self.name}>"


def checksum(data: bytes) -> str:
    """SHA-256 of a migration file, insensitive to line-ending style."""
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


def load_file(path: Path) -> Migration:
    """Execute one migration file and read its module-level names.

    Raises:
        MigrationFileError: naming the file and what is wrong with it.
    """
    name = path.stem
    data = path.read_bytes()
    spec = importlib.util.spec_from_file_location(f"_stellate_migration_{name}", path)
    if spec is None or spec.loader is None:
        raise MigrationFileError(f"Cannot load migration file `{path}`")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise MigrationFileError(
            f"Migration file `{path}` failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    operations = getattr(module, "operations", None)
    if not isinstance(operations, list) or not all(isinstance(op, Operation) for op in operations):
        raise MigrationFileError(
            f"Migration file `{path}` must define `operations` as a list of operations "
            "from stellate.orm.migrations.operations"
        )
    dependencies = getattr(module, "dependencies", None)
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise MigrationFileError(
            f"Migration file `{path}` must define `dependencies` as a list of migration names "
            '(`[]` for the first migration, else `["0001_initial"]`)'
        )
    replaces = getattr(module, "replaces", [])
    if not isinstance(replaces, list) or not all(isinstance(r, str) for r in replaces):
        raise MigrationFileError(
            f"Migration file `{path}`: `replaces` must be a list of migration names"
        )
    return Migration(
        name,
        path=path,
        dependencies=dependencies,
        operations=operations,
        replaces=replaces,
        checksum=checksum(data),
        atomic=bool(getattr(module, "atomic", True)),
    )


def migration_files(directory: Path) -> list[Path]:
    """The migration files of ``directory`` (``NNNN_name.py``), sorted by name."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.py") if _NAME.match(p.stem))


class MigrationHistory:
    """Every migration in a folder, with the order in which they apply.

    Attributes:
        directory: the migrations folder.
        migrations: every loaded migration by name (originals and squashes).
    """

    def __init__(self, directory: Path, migrations: dict[str, Migration]) -> None:
        self.directory = directory
        self.migrations = migrations

    def chain(self, applied: Iterable[str] = ()) -> list[Migration]:
        """The migrations in application order, squashes resolved against ``applied``.

        A squashed migration stands in for the ones it replaces when none or all of
        them are applied (or when their files are gone); when only some are applied,
        the originals are used so the database can finish the old path.

        Raises:
            MigrationFileError: on a missing dependency, a branch (two migrations with
                the same predecessor) or a cycle, naming the migrations and the fix.
        """
        applied_set = set(applied)
        nodes = dict(self.migrations)
        rename: dict[str, str] = {}
        for squash in [m for m in self.migrations.values() if m.replaces]:
            present = [r for r in squash.replaces if r in nodes]
            done = [r for r in squash.replaces if r in applied_set]
            partially = 0 < len(done) < len(squash.replaces)
            if partially and len(present) == len(squash.replaces):
                del nodes[squash.name]
                continue
            if partially:
                missing = sorted(set(squash.replaces) - set(done))
                raise MigrationFileError(
                    f"Squashed migration `{squash.name}` replaces migrations of which only some "
                    f"are applied, and the files of {', '.join(f'`{m}`' for m in missing)} are "
                    "gone: restore them from version control, migrate, then delete them again"
                )
            for replaced in present:
                del nodes[replaced]
            for replaced in squash.replaces:
                rename[replaced] = squash.name

        parents: dict[str, str | None] = {}
        for migration in nodes.values():
            deps = [rename.get(d, d) for d in migration.dependencies]
            deps = [d for d in dict.fromkeys(deps) if d != migration.name]
            if len(deps) > 1:
                raise MigrationFileError(
                    f"Migration `{migration.name}` depends on {', '.join(f'`{d}`' for d in deps)}: "
                    "history is linear, keep only the latest one in `dependencies`"
                )
            for dep in deps:
                if dep not in nodes:
                    raise MigrationFileError(
                        f"Migration `{migration.name}` depends on `{dep}`, which is not in "
                        f"`{self.directory}`: restore it or fix `dependencies`"
                    )
            parents[migration.name] = deps[0] if deps else None

        children: dict[str | None, list[str]] = {}
        for name, parent in parents.items():
            children.setdefault(parent, []).append(name)
        for parent, kids in children.items():
            if len(kids) > 1:
                where = f"`{parent}`" if parent else "nothing (both are first migrations)"
                raise MigrationFileError(
                    f"Migrations {', '.join(f'`{k}`' for k in sorted(kids))} all follow "
                    f"{where}: two branches added migrations. Renumber the later one, set its "
                    f"`dependencies` to the other, and run `stellate makemigrations` to "
                    f"refresh `{SNAPSHOT_FILE}`"
                )
        ordered: list[Migration] = []
        current: str | None = None
        # Each node has one parent and (checked above) each parent one child, so this
        # walk from the root is a simple path; nodes on a cycle are never reached.
        while current in children:
            current = children[current][0]
            ordered.append(nodes[current])
        if len(ordered) != len(nodes):
            stray = sorted(set(nodes) - {m.name for m in ordered})
            raise MigrationFileError(
                f"Migrations {', '.join(f'`{s}`' for s in stray)} are not reachable from the "
                "first migration (a dependency cycle): fix their `dependencies`"
            )
        return ordered

    def state_at(self, chain: Sequence[Migration]) -> ProjectState:
        """The state after applying ``chain`` (from an empty database).

        Raises:
            MigrationFileError: when an operation does not fit the state, naming both.
        """
        state = ProjectState()
        for migration in chain:
            for index, operation in enumerate(migration.operations, 1):
                try:
                    operation.state_forwards(state)
                except StateError as exc:
                    raise MigrationFileError(
                        f"Migration `{migration.name}`, operation {index} "
                        f"({operation.describe()}): {exc}"
                    ) from None
        return state

    def find(self, name: str, chain: Sequence[Migration]) -> int:
        """The position of migration ``name`` (or a unique prefix like ``0003``) in ``chain``.

        Raises:
            MigrationFileError: when no single migration matches.
        """
        matches = [i for i, m in enumerate(chain) if m.name == name]
        if not matches:
            matches = [i for i, m in enumerate(chain) if m.name.startswith(name)]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(f"`{m.name}`" for m in chain) or "none"
        if not matches:
            raise MigrationFileError(f"No migration `{name}` (known: {known})")
        raise MigrationFileError(
            f"`{name}` matches several migrations ({', '.join(chain[i].name for i in matches)}): "
            "give the full name"
        )


def load_history(directory: Path | str) -> MigrationHistory:
    """Load every migration file of ``directory``.

    Raises:
        MigrationFileError: naming a file that fails to load.
    """
    directory = Path(directory)
    migrations = {path.stem: load_file(path) for path in migration_files(directory)}
    return MigrationHistory(directory, migrations)


def read_snapshot(directory: Path | str) -> Snapshot | None:
    """The committed head snapshot, or ``None`` when the folder has none yet.

    Raises:
        MigrationFileError: when the file exists but is not a valid snapshot.
    """
    path = Path(directory) / SNAPSHOT_FILE
    if not path.exists():
        return None
    try:
        return msgspec.json.decode(path.read_bytes(), type=Snapshot)
    except msgspec.DecodeError as exc:
        raise MigrationFileError(
            f"`{path}` is not a valid snapshot ({exc}); if it has git conflict markers, two "
            "branches added migrations: keep both files, chain them, and run "
            "`stellate makemigrations` to rewrite it"
        ) from None


def snapshot_bytes(head: str | None, state: ProjectState) -> bytes:
    """The ``_state.json`` content for ``head`` and ``state``."""
    snapshot = Snapshot(head=head, state=state.normalized())
    return msgspec.json.format(msgspec.json.encode(snapshot), indent=2) + b"\n"
