"""Model signals: ``pre_save``, ``post_save``, ``pre_delete`` and ``post_delete``.

They are :class:`stellate.core.signals.Signal` objects, sent with the model class
as the sender, so ``@post_save.connect(sender=Book)`` receives saves of ``Book``
only (compared by identity: a subclass or proxy of ``Book`` is a different
sender). Receivers may be ``async def`` (awaited in turn) or plain functions,
and must accept ``**kwargs``.

=============  ===============================  ==========================================
Signal         Arguments                        Sent by
=============  ===============================  ==========================================
pre_save       sender, instance                 ``obj.save()`` before validation and SQL
post_save      sender, instance, created        ``obj.save()`` after the INSERT/UPDATE
pre_delete     sender, instance, soft           ``obj.delete()`` (and ``hard_delete()``)
post_delete    sender, instance, soft           after the row is deleted (or soft-deleted)
=============  ===============================  ==========================================

``soft`` is ``True`` when :class:`~stellate.orm.mixins.SoftDeleteMixin` stamped
``deleted_at`` instead of deleting the row.

Only instance methods send them. ``QuerySet.create()`` and ``get_or_create()``
send the save signals of the instance they save, but the set-based operations
send none: ``bulk_create()``, ``bulk_update()``, ``QuerySet.update()`` and
``QuerySet.delete()`` run one statement over many rows without loading them,
so there is no instance to hand to a receiver. Rows removed by
``ON DELETE CASCADE`` send none either (PostgreSQL deletes them).

A receiver that raises stops the operation: an exception in ``pre_save``
prevents the write; one in ``post_save`` propagates after the write (wrap the
save in a transaction to undo it).

Example:
    ```python
    from stellate.orm.signals import post_save


    @post_save.connect(sender=Order)
    async def notify_new_order(sender, instance, created, **kwargs):
        if created:
            await send_order_notification(instance)
    ```
"""

from __future__ import annotations

from stellate.core.signals import Signal

__all__ = ["post_delete", "post_save", "pre_delete", "pre_save"]

pre_save = Signal("pre_save")
"""Sent before an instance is validated and written: ``(sender, instance)``."""

post_save = Signal("post_save")
"""Sent after an instance is written: ``(sender, instance, created)``."""

pre_delete = Signal("pre_delete")
"""Sent before an instance is deleted: ``(sender, instance, soft)``."""

post_delete = Signal("post_delete")
"""Sent after an instance is deleted: ``(sender, instance, soft)``."""
