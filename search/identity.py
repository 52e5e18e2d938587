"""Who is asking: roles, camera scopes and the principal every service call carries.

Roles are fixed by the product, not configured: each names a job, and what the job may do is
written down once, in :data:`PERMISSIONS`, and checked by the services (the API's routes check the
same table, so a route cannot be more generous than the service behind it).

A camera scope is a set of camera tags. A camera is in a user's scope when it carries one of the
user's tags, or the user's scope is :data:`ALL_CAMERAS`. Data outside the scope does not exist for
that user: a sighting of an out-of-scope camera is NotFound, not PermissionDenied, so ids reveal
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sightline.errors import PermissionDenied

__all__ = [
    "ALL_CAMERAS",
    "PERMISSIONS",
    "SYSTEM",
    "Action",
    "Principal",
    "Role",
    "normalise_scope",
]

ALL_CAMERAS = "*"
"""The scope tag that stands for every camera."""


class Role(StrEnum):
    """The jobs people do with Sightline."""

    ADMIN = "admin"
    """Users, cameras and settings; no searches and no sightings."""
    INVESTIGATOR = "investigator"
    """Searches, trajectories, sightings and crops within scope, under a case."""
    SUPERVISOR = "supervisor"
    """Opens and approves cases, reads the audit of their unit."""
    AUDITOR = "auditor"
    """Reads and verifies the audit trail; nothing else."""
    OPERATOR = "operator"
    """Command center: live alerts, live view and camera status within scope; no retrospective search."""
    TESTER = "tester"
    """Replay and evaluation on throwaway stores only."""


class Action(StrEnum):
    """What a principal may be allowed to do; one entry per capability the services check."""

    SEARCH = "search"
    READ_SIGHTING = "read_sighting"
    LIST_CAMERAS = "list_cameras"
    MANAGE_CAMERAS = "manage_cameras"
    CAMERA_STATUS = "camera_status"
    READ_METRICS = "read_metrics"
    MANAGE_USERS = "manage_users"
    READ_AUDIT = "read_audit"


PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(
        {
            Action.LIST_CAMERAS,
            Action.MANAGE_CAMERAS,
            Action.CAMERA_STATUS,
            Action.READ_METRICS,
            Action.MANAGE_USERS,
        }
    ),
    Role.INVESTIGATOR: frozenset({Action.SEARCH, Action.READ_SIGHTING, Action.LIST_CAMERAS}),
    Role.SUPERVISOR: frozenset({Action.LIST_CAMERAS, Action.READ_AUDIT}),
    Role.AUDITOR: frozenset({Action.READ_AUDIT}),
    Role.OPERATOR: frozenset({Action.LIST_CAMERAS, Action.CAMERA_STATUS}),
    Role.TESTER: frozenset(),
}
"""Role → what it may do. Camera management sees every camera whatever the admin's scope: an
administrator must be able to fix a camera they could not otherwise see."""


def normalise_scope(tags: Iterable[str]) -> frozenset[str]:
    """Tags stripped, empty ones dropped; ``*`` alone stands for every camera."""
    cleaned = frozenset(t.strip() for t in tags if t.strip())
    return frozenset({ALL_CAMERAS}) if ALL_CAMERAS in cleaned else cleaned


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user as the services see them: name, role and camera scope."""

    name: str
    role: Role
    scope: frozenset[str]

    def may(self, action: Action) -> bool:
        return action in PERMISSIONS[self.role]

    def require(self, action: Action) -> None:
        """Raise PermissionDenied unless the role allows ``action``."""
        if not self.may(action):
            raise PermissionDenied(f"role {self.role.value!r} may not {action.value.replace('_', ' ')}")

    @property
    def all_cameras(self) -> bool:
        return ALL_CAMERAS in self.scope

    def sees_camera(self, camera_tags: Iterable[str]) -> bool:
        """True when a camera with ``camera_tags`` is in this principal's scope."""
        return self.all_cameras or not self.scope.isdisjoint(camera_tags)


SYSTEM = Principal("system", Role.ADMIN, frozenset({ALL_CAMERAS}))
"""Sightline acting by itself (retention, ingest). Never a login: no user may take this name."""
