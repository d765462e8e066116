"""Named users, as in every test of opsdash: alice admin, bob operator, carol viewer,
dave outsider (a viewer limited to another tenant), and eve with no role at all."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from opsdash.accounts.models import Role, RoleAssignment
from opsdash.tenants.models import Tenant

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The production hasher is slow on purpose; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_user(username: str, role: str | None, tenants: list[Tenant] | None = None):
    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    if role is not None:
        assignment = RoleAssignment.objects.create(user=user, role=role)
        if tenants:
            assignment.tenants.set(tenants)
    return user


@pytest.fixture
def acme(db) -> Tenant:
    return Tenant.objects.create(slug="acme", name="Acme Corp", daily_budget_usd=100, monthly_budget_usd=2500)


@pytest.fixture
def globex(db) -> Tenant:
    return Tenant.objects.create(slug="globex", name="Globex", daily_budget_usd=50, monthly_budget_usd=1000)


@pytest.fixture
def alice(db):
    return make_user("alice", Role.ADMIN)


@pytest.fixture
def bob(db):
    return make_user("bob", Role.OPERATOR)


@pytest.fixture
def carol(db):
    return make_user("carol", Role.VIEWER)


@pytest.fixture
def dave(db, globex):
    return make_user("dave", Role.VIEWER, [globex])


@pytest.fixture
def eve(db):
    return make_user("eve", None)


@pytest.fixture
def initech(db) -> Tenant:
    return Tenant.objects.create(slug="initech", name="Initech")


@pytest.fixture
def frank(db, acme):
    """An operator limited to acme."""
    return make_user("frank", Role.OPERATOR, [acme])


@pytest.fixture
def grace(db, acme):
    """An admin limited to acme."""
    return make_user("grace", Role.ADMIN, [acme])
