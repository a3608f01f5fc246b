"""Whose figures a report shows (wave2 §14.1 "data scope" and "department filter").

:class:`ReportScope` narrows the viewer's one data scope (``crm.visibility.owner_scope``,
never a rule of its own) by the report's department and person filters:

    user_ids = owner_scope(viewer) ∩ (department and its sub-departments | its direct members)
               ∩ person

A rep (scope ``own``) therefore gets their own figures whatever the department; a department
or a person outside the scope is refused with a ``ValidationError`` (the filter form offers
only what is inside, so through the form it is an ordinary "choose a valid option" error).

Figures are attributed to users; a report filters its rows with :meth:`ReportScope.q`
(``owner_id IN user_ids``), so rows without an attribution user (the pool's) count for
nobody, not even for an administrator.

PERF: a fixed number of queries whatever the size of the tenant: the users of the scope (one
query, with their departments), the tenant's departments (one query, when a department is
chosen or rows per department are asked for), and the scope's own ids for
``own_and_subordinates`` (one). Rows per department or person are computed in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from crm.models import DataScope, Department, User
from crm.visibility import OwnerScope, owner_scope

# Sorts users without a department after every department path ("/3/7/").
_NO_PATH = "\uffff"


@dataclass(frozen=True)
class Person:
    """A user of the viewer's data scope, as the report needs them."""

    id: int
    name: str
    is_active: bool
    department_id: int | None
    department_name: str
    department_path: str


@dataclass(frozen=True)
class _Dept:
    id: int
    name: str
    path: str
    parent_id: int | None
    is_active: bool


@dataclass(frozen=True)
class DepartmentRow:
    """One row of a per-department table: a child department (with its sub-tree), or 「其他」
    (``is_other``) for the selected department's direct members; ``user_ids`` are inside the
    report's scope."""

    department_id: int | None
    label: str
    user_ids: frozenset[int]
    is_other: bool = False


@dataclass(frozen=True)
class PersonRow:
    """One row of a per-person table; ``inactive`` rows are greyed by the page."""

    user_id: int
    name: str
    department_name: str
    inactive: bool


class ReportScope:
    """The users whose figures ``actor`` sees in a report filtered by ``department`` (with its
    sub-departments, or only its direct members when ``only_this_department``) and
    ``person``. Raises ``ValidationError`` for a department or person outside the scope."""

    def __init__(
        self,
        actor: User,
        department: Department | None = None,
        only_this_department: bool = False,
        person: User | None = None,
    ):
        self.actor = actor
        self.department = department
        self.only_this_department = bool(only_this_department and department is not None)
        self.person = person
        self.owner_scope: OwnerScope = owner_scope(actor)
        if department is not None and department.pk not in self.department_ids():
            raise ValidationError(
                _("You may not see the figures of this department."), code="department"
            )
        if person is not None and person.pk not in self._people_by_id:
            raise ValidationError(_("You may not see this person's figures."), code="person")
        self.user_ids: frozenset[int] = frozenset(p.id for p in self._selected())

    def __repr__(self) -> str:
        return f"<ReportScope of user {self.actor.pk}: {len(self.user_ids)} users>"

    # ---------------------------------------------------------------- the answer

    @property
    def is_alone(self) -> bool:
        """The viewer sees their own figures only (a page may hide the department and person
        filters)."""
        return self.owner_scope.kind == DataScope.OWN or (
            self.owner_scope.kind == DataScope.OWN_AND_SUBORDINATES and self.owner_scope.is_alone
        )

    def covers(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.user_ids

    def q(self, field: str = "owner_id") -> Q:
        """The condition "``field`` (the attribution user's id) is one of :attr:`user_ids`"."""
        return Q(**{f"{field}__in": sorted(self.user_ids)})

    # ---------------------------------------------------------------- the viewer's scope

    def people(self) -> list[Person]:
        """Every user of the viewer's data scope (deactivated ones too), by department path
        then name."""
        return list(self._people_by_id.values())

    @cached_property
    def _people_by_id(self) -> dict[int, Person]:
        actor = self.actor
        if not actor.is_active or actor.tenant_id is None:
            return {}
        users = (
            User.tenant_objects.filter(tenant_id=actor.tenant_id)
            .filter(self.owner_scope.q("id"))
            .values(
                "id",
                "name",
                "username",
                "is_active",
                "department_id",
                "department__name",
                "department__path",
            )
        )
        people = [
            Person(
                id=u["id"],
                name=u["name"] or u["username"],
                is_active=u["is_active"],
                department_id=u["department_id"],
                department_name=u["department__name"] or "",
                department_path=u["department__path"] or "",
            )
            for u in users
        ]
        people.sort(key=_person_order)
        return {p.id: p for p in people}

    def person_choices(self) -> QuerySet:
        """The users a person filter offers: the viewer's data scope, active ones first."""
        return (
            User.tenant_objects.filter(tenant_id=self.actor.tenant_id, pk__in=self._people_by_id)
            .select_related("department")
            .order_by("-is_active", "department__path", "name", "username")
        )

    @cached_property
    def _departments(self) -> dict[int, _Dept]:
        # PERF: the tenant's whole tree in one query (tens to a few hundred rows).
        if self.actor.tenant_id is None:
            return {}
        rows = Department.objects.filter(tenant_id=self.actor.tenant_id).values_list(
            "id", "name", "path", "parent_id", "is_active"
        )
        return {row[0]: _Dept(*row) for row in sorted(rows, key=lambda r: r[2])}

    def department_ids(self) -> frozenset[int]:
        """The ids of the departments the viewer may pick (see :meth:`departments`)."""
        return self._department_ids

    @cached_property
    def _department_ids(self) -> frozenset[int]:
        active = {d.id: d for d in self._departments.values() if d.is_active}
        kind = self.owner_scope.kind
        if not self.actor.is_active:
            return frozenset()
        if kind == DataScope.ALL:
            return frozenset(active)
        if kind == DataScope.DEPARTMENT_AND_BELOW:
            own = self._departments.get(self.actor.department_id)
            if own is not None:
                return frozenset(d.id for d in active.values() if d.path.startswith(own.path))
        held = {p.department_id for p in self._people_by_id.values()}
        return frozenset(pk for pk in active if pk in held)

    def departments(self) -> QuerySet:
        """The departments the viewer may pick, by path: every active department for an
        ``all`` scope, the active sub-tree of their own for ``department_and_below``, else the
        active departments holding users of their scope."""
        return Department.objects.filter(
            tenant_id=self.actor.tenant_id, pk__in=sorted(self._department_ids)
        ).order_by("path")

    # ---------------------------------------------------------------- rows of a table

    def _selected(self) -> list[Person]:
        people = self._people_by_id.values()
        if self.person is not None:
            people = [p for p in people if p.id == self.person.pk]
        if self.department is not None:
            dept = self._departments[self.department.pk]
            if self.only_this_department:
                people = [p for p in people if p.department_id == dept.id]
            else:
                people = [p for p in people if p.department_path.startswith(dept.path)]
        return list(people)

    def department_rows(self, department: Department | None = None) -> list[DepartmentRow]:
        """One row per child department of ``department`` (default: the filter's) holding the
        users of :attr:`user_ids` in its sub-tree, then 「其他」 for its direct members;
        rows without any user are left out. Without a department: one row per top
        department the viewer may pick, then 「其他」 for users outside them (no
        department); a single top department is opened (a manager sees their teams)."""
        department = department or self.department
        if department is not None and department.pk not in self.department_ids():
            raise ValidationError(
                _("You may not see the figures of this department."), code="department"
            )
        selected = [self._people_by_id[pk] for pk in self.user_ids]
        if department is not None:
            parent = self._departments[department.pk]
            children = [d for d in self._departments.values() if d.parent_id == parent.id]
            direct = {p.id for p in selected if p.department_id == parent.id}
        else:
            allowed = self.department_ids()
            children = [
                self._departments[pk]
                for pk in allowed
                if self._departments[pk].parent_id not in allowed
            ]
            children.sort(key=lambda d: d.path)
            direct = {
                p.id
                for p in selected
                if not any(p.department_path.startswith(d.path) for d in children)
            }
            if len(children) == 1 and not direct:
                # One top department (a manager's own): its teams are the useful rows.
                teams = self.department_rows(Department(pk=children[0].id))
                if any(not row.is_other for row in teams):
                    return teams
        rows = []
        for child in children:
            ids = frozenset(p.id for p in selected if p.department_path.startswith(child.path))
            if ids:
                rows.append(DepartmentRow(child.id, child.name, ids))
        if direct:
            rows.append(DepartmentRow(None, str(_("Other")), frozenset(direct), is_other=True))
        return rows

    def person_rows(self, with_data: set[int] | frozenset[int] = frozenset()) -> list[PersonRow]:
        """The users of :attr:`user_ids` to list, by department path then name: every active
        one, a deactivated one only when they have figures in the period (``with_data``)."""
        return [
            PersonRow(p.id, p.name, p.department_name, inactive=not p.is_active)
            for p in self._people_by_id.values()
            if p.id in self.user_ids and (p.is_active or p.id in with_data)
        ]


def _person_order(person: Person) -> tuple[str, str, int]:
    return (person.department_path or _NO_PATH, person.name, person.id)
