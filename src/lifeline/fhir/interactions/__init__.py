"""One module per FHIR interaction or operation, each linking the section of the spec it implements."""

from lifeline.fhir.interactions import (
    capabilities,
    create,
    delete,
    everything,
    history,
    patch,
    read,
    search,
    transaction,
    update,
    validate,
    vread,
)

__all__ = [
    "capabilities",
    "create",
    "delete",
    "everything",
    "history",
    "patch",
    "read",
    "search",
    "transaction",
    "update",
    "validate",
    "vread",
]
