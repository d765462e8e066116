"""Whatever a scoped admin tries, in whatever order, and however a global admin reshapes the
accounts around it, the scoped admin's reach never grows past its own tenants.

grace is an admin limited to acme (in some examples acme and initech); alice is the global
admin, the only one who makes accounts elsewhere, and she moves users, (de)activates them,
sends links and narrows grace's scope in between. A user is within grace's reach when it
has a role, is no superuser, and every tenant its role covers or ever covered (the current
assignment and ScopeHistory) lies within grace's scope. Each of grace's steps goes through
the services the views use; after it:

(a) whatever access any user gained is within grace's scope, and never global;
(b) no user outside her reach before the step changed (name, activity, password, role,
    tenants, scope history, set-password links);
(c) grace herself never holds more than she started with;
(d) a set-password link only works if alice issued it, or grace did for a user within her
    reach then and still.

Besides, each of her steps succeeds exactly when the rule says it should, and a refused
step changes nothing at all.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Max
from django.test import RequestFactory
from django.urls import resolve
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from opsdash.accounts import services
from opsdash.accounts.models import ROLE_RANK, PasswordLink, Role, RoleAssignment, ScopeHistory
from opsdash.audit.models import AuditEvent
from opsdash.lib.hashing import hash_secret
from opsdash.tenants.models import Tenant
from tests.conftest import PASSWORD, make_user

User = get_user_model()

GLOBAL = "*"  # stands for "every tenant" wherever a tenant slug goes
TENANTS = ("acme", "globex", "initech")
ROLES = st.sampled_from([Role.VIEWER.value, Role.OPERATOR.value, Role.ADMIN.value])
# Empty: a global role. Half the draws lie within grace's scope, so her steps get through too.
TENANT_SETS = st.one_of(
    st.sampled_from([frozenset({"acme"}), frozenset({"acme", "initech"}), frozenset({"initech"})]),
    st.frozensets(st.sampled_from(TENANTS)),
)
ADMIN_RANK = ROLE_RANK[Role.ADMIN]
REQUEST = RequestFactory().post("/")
# What happens next, and how often: mostly grace, then alice making the world awkward and
# someone using a link. One rule draws from this list, so every example mixes all of them.
STEPS = (
    *["grace edits"] * 4,
    *["grace issues a link for"] * 3,
    *["grace deactivates", "grace reactivates"] * 2,
    *["grace creates"] * 2,
    *["grace rescopes herself"] * 2,
    *["someone uses a link from grace", "someone uses a link from alice"] * 2,
    *["alice moves"] * 3,
    *["alice rescopes grace", "alice issues a link for"] * 2,
    "alice creates",
    "alice deactivates",
    "alice reactivates",
)


@dataclass(frozen=True)
class Account:
    """Everything user management can change about one user."""

    is_active: bool
    is_superuser: bool
    password: str
    role: str | None
    tenants: frozenset[str]
    history: frozenset[str]
    links: tuple[tuple[Any, ...], ...]

    def privileges(self) -> frozenset[tuple[str, int]]:
        """(tenant or GLOBAL, rank) for every rank up to the role, while the user is active."""
        if not self.is_active or self.role is None:
            return frozenset()
        places = self.tenants or {GLOBAL}
        return frozenset((place, rank) for place in places for rank in range(1, ROLE_RANK[Role(self.role)] + 1))

    def reach(self) -> frozenset[str]:
        """Every tenant the role covers or ever covered; GLOBAL among them if any was global."""
        current = (self.tenants or {GLOBAL}) if self.role is not None else set()
        return frozenset(current | self.history)

    def widened_from(self, before: Account | None) -> bool:
        if before is None:
            return False
        return GLOBAL not in before.reach() and not self.reach() <= before.reach()


@dataclass(frozen=True)
class World:
    accounts: dict[str, Account]
    last_event_id: int

    def in_reach(self, username: str, scope: frozenset[str]) -> bool:
        """The rule, written out: a role, no superuser, and every tenant now or ever in ``scope``."""
        account = self.accounts[username]
        if account.is_superuser or account.role is None or not account.tenants:
            return False
        return account.tenants | account.history <= scope


def world() -> World:
    tenants: dict[int, set[str]] = defaultdict(set)
    for user_id, slug in RoleAssignment.tenants.through.objects.values_list("roleassignment__user_id", "tenant__slug"):
        tenants[user_id].add(slug)
    history: dict[int, set[str]] = defaultdict(set)
    for user_id, slug in ScopeHistory.objects.values_list("user_id", "tenant__slug"):
        history[user_id].add(slug or GLOBAL)
    links: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for user_id, *link in PasswordLink.objects.order_by("pk").values_list(
        "user_id", "pk", "token_hash", "created_by_id", "expires_at", "used_at", "revoked_at"
    ):
        links[user_id].append(tuple(link))
    roles = dict(RoleAssignment.objects.values_list("user_id", "role"))
    accounts = {
        username: Account(
            is_active=is_active,
            is_superuser=is_superuser,
            password=password,
            role=roles.get(pk),
            tenants=frozenset(tenants[pk]),
            history=frozenset(history[pk]),
            links=tuple(links[pk]),
        )
        for pk, username, is_active, is_superuser, password in User.objects.values_list(
            "pk", "username", "is_active", "is_superuser", "password"
        )
    }
    last_event_id = AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0
    return World(accounts, last_event_id)


@dataclass
class LinkModel:
    """A set-password link as the rules say it should be: live until used, replaced, expired,
    or its user is deactivated or given a wider reach; and it works only while its issuer
    still manages the user."""

    username: str
    issuer: str
    in_reach_when_issued: bool
    token: str = field(repr=False)
    live: bool = True


def pick(data: Any, items: list[Any], *preferred: list[Any], label: str = "user") -> Any:
    """One of ``items``, or as often one of each ``preferred`` list (those with any)."""
    groups = [group for group in preferred if group]
    return data.draw(st.one_of(*[st.sampled_from(group) for group in [*groups, items]]), label=label)


def alice_creates_user(username: str, role: str, tenants: tuple[str, ...]) -> Any:
    alice = User.objects.get(username="alice")
    return services.create_user(username, acting_user=alice, role=role, password=None, tenant_slugs=tenants)


def assign_directly(username: str, role: str, tenant: Tenant) -> Any:
    user = User.objects.create_user(username=username, password=PASSWORD)
    RoleAssignment.objects.create(user=user, role=role).tenants.set([tenant])
    return user


def remember_link(links: list[LinkModel], url: str, username: str, issuer: str, in_reach: bool) -> None:
    for link in links:
        if link.username == username:
            link.live = False  # a new link replaces the older ones
    token = resolve(urlsplit(url).path).kwargs["token"]
    links.append(LinkModel(username, issuer, in_reach, token))


def a_world_of_every_kind_of_user() -> list[LinkModel]:
    """Built once per test; every example starts from it and rolls back to it. Returns the
    set-password links issued in it."""
    tenants = {slug: Tenant.objects.create(slug=slug, name=slug.title()) for slug in TENANTS}
    alice = make_user("alice", Role.ADMIN)
    alice_creates_user("grace", Role.ADMIN, ("acme",))
    made = {
        "acme-viewer": (Role.VIEWER, ("acme",)),
        "acme-admin": (Role.ADMIN, ("acme",)),
        "acme-initech-operator": (Role.OPERATOR, ("acme", "initech")),
        "initech-viewer": (Role.VIEWER, ("initech",)),
        "globex-operator": (Role.OPERATOR, ("globex",)),
        "acme-globex-viewer": (Role.VIEWER, ("acme", "globex")),
        "global-viewer": (Role.VIEWER, ()),
        "global-admin": (Role.ADMIN, ()),
        "acme-off": (Role.OPERATOR, ("acme",)),
        "globex-off": (Role.VIEWER, ("globex",)),
        "moved-in": (Role.VIEWER, ("globex",)),
        "was-global": (Role.ADMIN, ()),
    }
    for username, (role, slugs) in made.items():
        alice_creates_user(username, role, slugs)
    for username in ("acme-off", "globex-off"):
        services.set_active(User.objects.get(username=username), acting_user=alice, active=False)
    for username in ("moved-in", "was-global"):
        user = User.objects.get(username=username)
        services.change_role(user, acting_user=alice, role=Role.VIEWER, tenant_slugs=["acme"])
    # Assigned outside the services (as before the history existed): no ScopeHistory.
    assign_directly("direct-acme-operator", Role.OPERATOR, tenants["acme"])
    direct_moved = assign_directly("direct-globex-moved", Role.VIEWER, tenants["globex"])
    services.change_role(direct_moved, acting_user=alice, role=Role.VIEWER, tenant_slugs=["acme"])
    make_user("no-role", None)
    for username, role, scope in (("root", None, None), ("root-acme", Role.VIEWER, [tenants["acme"]])):
        root = make_user(username, role, scope)
        User.objects.filter(pk=root.pk).update(is_superuser=True, is_staff=True)
    alice_creates_user("acme-back", Role.VIEWER, ("acme",))
    links: list[LinkModel] = []
    grace = User.objects.get(username="grace")
    for username, issuer in (
        ("acme-viewer", alice),
        ("acme-viewer", grace),  # replaces alice's
        ("acme-admin", grace),
        ("direct-acme-operator", grace),
        ("globex-operator", alice),
        ("global-viewer", alice),
        ("acme-back", alice),  # dies with the deactivation below
    ):
        url = services.password_link(User.objects.get(username=username), acting_user=issuer, request=REQUEST)
        remember_link(links, url, username, issuer.username, in_reach=issuer == grace)
    services.set_active(User.objects.get(username="acme-back"), acting_user=alice, active=False)
    services.set_active(User.objects.get(username="acme-back"), acting_user=alice, active=True)
    for link in links:
        link.live = link.live and link.username != "acme-back"
    return links


class ScopedAdminMachine(RuleBasedStateMachine):
    def __init__(self, links: list[LinkModel]) -> None:
        super().__init__()
        # Each example starts from the test's world, inside a savepoint that teardown rolls back.
        self._savepoint = transaction.atomic()
        self._savepoint.__enter__()
        self.tenant_ids = dict(Tenant.objects.values_list("slug", "pk"))
        self.request = REQUEST
        self.names = itertools.count(1)
        self.links = [replace(link) for link in links]
        self.last_target = ""  # whom the last step was about
        self.initial_scope: frozenset[str] = frozenset()

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._savepoint.__exit__(None, None, None)

    @staticmethod
    def user(username: str) -> Any:
        # Fresh from the database, as each request reads it (no cached access).
        return User.objects.get(username=username)

    @initialize(grace_scope=st.sampled_from([("acme", "initech"), ("acme",)]))
    def grace_is_limited_to(self, grace_scope: tuple[str, ...]) -> None:
        self.initial_scope = frozenset(grace_scope)
        if grace_scope == ("acme",):
            return
        grace = self.user("grace")
        services.change_role(grace, acting_user=self.user("alice"), role=Role.ADMIN, tenant_slugs=grace_scope)
        # Links for the initech users now within her reach, to be used after she narrows her scope.
        for username in ("initech-viewer", "acme-initech-operator"):
            url = services.password_link(self.user(username), acting_user=grace, request=self.request)
            remember_link(self.links, url, username, "grace", in_reach=True)

    # --- grace's steps -----------------------------------------------------------------

    def grace_target(self, data: Any, before: World, *, herself: bool = True) -> str:
        """Anyone (grace too when ``herself``); as often someone within her reach, and someone
        just beyond it (whose role covers one of her tenants)."""
        scope = before.accounts["grace"].tenants
        names = sorted(name for name in before.accounts if herself or name != "grace")
        mine = [name for name in names if before.in_reach(name, scope)]
        near = [name for name in names if name not in mine and before.accounts[name].tenants & scope]
        self.last_target = pick(data, names, mine, near)
        return self.last_target

    def grace_step(self, before: World, step: Any, expected_ok: bool, what: str) -> bool:
        """Run ``step(grace)`` on the world ``before``; check (a), (b), that her events stay
        within her scope, that a refusal changes nothing, and that the step succeeded exactly
        when ``expected_ok``."""
        scope = before.accounts["grace"].tenants
        try:
            step(self.user("grace"))
        except services.AccessError:
            ok = False
        else:
            ok = True
        after = world()
        if not ok:
            assert after == before, f"{what}: refused, yet something changed"
        else:
            self.links_of_widened_users_die(before, after)
            for username, account in after.accounts.items():
                had = before.accounts[username].privileges() if username in before.accounts else frozenset()
                gained = {
                    (place, rank)
                    for place, rank in account.privileges() - had
                    if (GLOBAL, rank) not in had  # nothing new for someone who had every tenant
                }
                beyond = {(place, rank) for place, rank in gained if place not in scope}
                assert not beyond, f"{what}: {username} gained {sorted(beyond)} beyond grace's scope {sorted(scope)}"
            for username, account in before.accounts.items():
                if not before.in_reach(username, scope):
                    assert after.accounts[username] == account, f"{what}: changed {username}, who is out of reach"
            scope_ids = {self.tenant_ids[slug] for slug in scope}
            for event in AuditEvent.objects.filter(id__gt=before.last_event_id):
                assert not event.all_tenants, f"{what}: wrote {event.action} about every tenant"
                assert event.tenant_ids, f"{what}: wrote {event.action} about no tenant"
                assert set(event.tenant_ids) <= scope_ids, f"{what}: wrote {event.action} beyond grace's scope"
        assert ok == expected_ok, f"{what}: {'allowed' if ok else 'refused'}, expected the opposite"
        return ok

    @staticmethod
    def may_grant(scope: frozenset[str], role: str, tenants: frozenset[str]) -> bool:
        return bool(tenants) and tenants <= scope and ROLE_RANK[Role(role)] <= ADMIN_RANK

    @rule(data=st.data())
    def next_step(self, data: Any) -> None:
        actor, _, action = data.draw(st.sampled_from(STEPS), label="step").partition(" ")
        if actor == "grace":
            self.grace_acts(data, action)
        elif actor == "alice":
            self.alice_acts(data, action)
        else:
            self.someone_uses_a_link(data, issuer=action.rpartition(" ")[2])

    def grace_acts(self, data: Any, action: str) -> None:
        """One of grace's steps, through the services her pages use."""
        before = world()
        scope = before.accounts["grace"].tenants
        if action == "creates":
            username = f"made-by-grace-{next(self.names)}"
            role, tenants = data.draw(ROLES, label="role"), data.draw(TENANT_SETS, label="tenants")
            password = f"a-fresh-passphrase-for-{username}" if data.draw(st.booleans(), label="password") else None

            def step(grace: Any) -> None:
                services.create_user(
                    username, acting_user=grace, role=role, password=password, tenant_slugs=sorted(tenants)
                )

            what = f"grace creates {username}, {role} of {set(tenants) or 'all'}"
            self.grace_step(before, step, self.may_grant(scope, role, tenants), what)
        elif action == "rescopes herself":
            tenants = data.draw(TENANT_SETS, label="tenants")

            def step(grace: Any) -> None:
                services.change_role(grace, acting_user=grace, role=Role.ADMIN, tenant_slugs=sorted(tenants))

            expected = bool(tenants) and tenants <= scope
            self.grace_step(before, step, expected, f"grace rescopes herself to {set(tenants) or 'all'}")
        elif action == "edits":
            username = self.grace_target(data, before, herself=False)
            role, tenants = data.draw(ROLES, label="role"), data.draw(TENANT_SETS, label="tenants")

            def step(grace: Any) -> None:
                user = self.user(username)
                services.change_role(
                    user, acting_user=grace, role=role, tenant_slugs=sorted(tenants), request=self.request
                )

            expected = before.in_reach(username, scope) and self.may_grant(scope, role, tenants)
            self.grace_step(before, step, expected, f"grace makes {username} {role} of {set(tenants) or 'all'}")
        elif action in ("deactivates", "reactivates"):
            username = self.grace_target(data, before)
            active = action == "reactivates"

            def step(grace: Any) -> None:
                services.set_active(self.user(username), acting_user=grace, active=active, request=self.request)

            # Nobody deactivates themselves.
            expected = before.in_reach(username, scope) and (active or username != "grace")
            if self.grace_step(before, step, expected, f"grace {action} {username}") and not active:
                self.links_die(username)
        else:
            username = self.grace_target(data, before)
            in_reach = before.in_reach(username, scope)
            issued: list[str] = []

            def step(grace: Any) -> None:
                issued.append(services.password_link(self.user(username), acting_user=grace, request=self.request))

            expected = in_reach and before.accounts[username].is_active
            if self.grace_step(before, step, expected, f"grace issues a link for {username}"):
                remember_link(self.links, issued[0], username, "grace", in_reach)

    # --- alice's steps, to make the world awkward ---------------------------------------

    def alice_acts(self, data: Any, action: str) -> None:
        alice = self.user("alice")
        if action == "creates":
            role, tenants = data.draw(ROLES, label="role"), data.draw(TENANT_SETS, label="tenants")
            alice_creates_user(f"made-by-alice-{next(self.names)}", role, tuple(sorted(tenants)))
            return
        if action == "rescopes grace":
            # Within what grace started with; her links beyond her new scope must stop working.
            scopes = [["initech"], ["acme"], sorted(self.initial_scope)]
            scope = data.draw(st.sampled_from([scope for scope in scopes if set(scope) <= self.initial_scope]))
            services.change_role(self.user("grace"), acting_user=alice, role=Role.ADMIN, tenant_slugs=scope)
            return
        names = sorted(User.objects.exclude(username__in=["alice", "grace"]).values_list("username", flat=True))
        # As often as anyone: someone with a live link, which must not follow them anywhere new.
        username = pick(data, names, sorted({link.username for link in self.links if link.live} - {"grace"}))
        self.last_target = username
        user = self.user(username)
        if action == "moves":
            role, tenants = data.draw(ROLES, label="role"), data.draw(TENANT_SETS, label="tenants")
            before = world()
            services.change_role(user, acting_user=alice, role=role, tenant_slugs=sorted(tenants))
            self.links_of_widened_users_die(before, world())
        elif action in ("deactivates", "reactivates"):
            services.set_active(user, acting_user=alice, active=action == "reactivates")
            if action == "deactivates":
                self.links_die(username)
        elif user.is_active:
            url = services.password_link(user, acting_user=alice, request=self.request)
            remember_link(self.links, url, username, "alice", in_reach=False)
        else:
            with pytest.raises(services.AccessError):  # no link for a deactivated user
                services.password_link(user, acting_user=alice, request=self.request)

    # --- links -------------------------------------------------------------------------

    def links_of_widened_users_die(self, before: World, after: World) -> None:
        """Whoever issued a link must not follow its user into a wider reach."""
        for username, account in after.accounts.items():
            if account.widened_from(before.accounts.get(username)):
                self.links_die(username)

    def links_die(self, username: str) -> None:
        for link in self.links:
            if link.username == username:
                link.live = False

    def someone_uses_a_link(self, data: Any, *, issuer: str) -> None:
        links = [link for link in self.links if link.issuer == issuer]
        if not links:
            return
        # As often as any: a live one, a dead one, and one of the user the last step was about.
        live = [link for link in links if link.live]
        dead = [link for link in links if not link.live]
        link = pick(
            data, links, live, dead, [link for link in links if link.username == self.last_target], label="link"
        )
        if data.draw(st.sampled_from(["in time", "in time", "in time", "too late"]), label="used") == "too late":
            expired = timezone.now() - timedelta(minutes=1)
            PasswordLink.objects.filter(token_hash=hash_secret(link.token)).update(expires_at=expired)
            link.live = False
        before = world()
        # The issuer must still manage the user: alice always does, grace while it is in reach.
        still_hers = before.in_reach(link.username, before.accounts["grace"].tenants)
        expected = link.live and before.accounts[link.username].is_active and (link.issuer == "alice" or still_hers)
        password = f"a-new-passphrase-{next(self.names)}"
        try:
            services.set_password_with_link(link.token, password, request=self.request)
        except services.AccessError:
            ok = False
        else:
            ok = True
        after = world()
        assert ok == expected, f"the link of {link.username} was {'taken' if ok else 'refused'}"
        if not ok:
            assert after == before
            return
        # (d) a working link came from alice, or from grace for a user within her reach then and now.
        assert link.issuer == "alice" or (link.in_reach_when_issued and still_hers), (
            f"grace's link took {link.username}"
        )
        assert self.user(link.username).check_password(password)
        changed = {name for name, account in after.accounts.items() if before.accounts[name] != account}
        assert changed == {link.username}
        mine_before, mine_after = before.accounts[link.username], after.accounts[link.username]
        assert (mine_after.role, mine_after.tenants, mine_after.is_active) == (
            mine_before.role,
            mine_before.tenants,
            mine_before.is_active,
        )
        link.live = False

    # --- after every step --------------------------------------------------------------

    @invariant()
    def grace_never_gains_scope(self) -> None:
        grace = User.objects.get(username="grace")
        assert grace.is_active
        assert not grace.is_superuser
        assert grace.role_assignment.role == Role.ADMIN
        tenants = set(grace.role_assignment.tenants.values_list("slug", flat=True))
        assert tenants
        assert tenants <= self.initial_scope
        history = {slug or GLOBAL for slug in grace.scope_history.values_list("tenant__slug", flat=True)}
        assert history <= self.initial_scope


@pytest.mark.django_db
def test_it_never_lets_a_scoped_admin_reach_beyond_its_tenants():
    links = a_world_of_every_kind_of_user()
    run_state_machine_as_test(
        lambda: ScopedAdminMachine(links),
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
