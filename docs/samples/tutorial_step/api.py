"""The REST API: /api/notes/ (list, create), /api/notes/{pk}/ (read, change, delete)."""

from __future__ import annotations

from stellate.rest import (
    IsAuthenticatedOrReadOnly,
    ModelSerializer,
    ModelViewSet,
    Router,
)

from models import Note


class NoteSerializer(ModelSerializer[Note]):
    class Meta:
        model = Note
        fields = ("id", "title", "done", "due")  # new: "due"


class NoteViewSet(ModelViewSet):
    model = Note
    serializer_class = NoteSerializer
    # reads are public, writes need a login
    permission_classes = (IsAuthenticatedOrReadOnly,)
    filterset_fields = {"done": ["exact"], "due": ["lte", "isnull"]}  # new: due filters
    search_fields = ("title",)
    ordering_fields = ("id", "title", "due")


router = Router()
router.register("notes", NoteViewSet)
