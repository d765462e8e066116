from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from opsdash.accounts import access
from opsdash.accounts.models import Role
from opsdash.tenants.models import Tenant


def test_it_ranks_roles(alice, bob, carol, eve):
    assert access.has_role(alice, Role.ADMIN)
    assert access.has_role(bob, Role.OPERATOR)
    assert not access.has_role(bob, Role.ADMIN)
    assert access.has_role(carol, Role.VIEWER)
    assert not access.has_role(carol, Role.OPERATOR)
    assert not access.has_role(eve, Role.VIEWER)


def test_it_gives_404_outside_the_scope_and_403_for_a_low_role(dave, carol, acme, globex):
    with pytest.raises(Http404):
        access.tenant_for(dave, "acme")
    assert access.tenant_for(dave, "globex") == globex
    with pytest.raises(PermissionDenied):
        access.tenant_for(carol, "acme", "tenants.operate_tenant")
    with pytest.raises(Http404):
        access.tenant_for(carol, "no-such-tenant")


def test_it_limits_querysets_to_the_scope(dave, carol, eve, acme, globex):
    assert list(access.visible_tenants(dave)) == [globex]
    assert set(access.visible_tenants(carol)) == {acme, globex}
    assert list(access.visible_tenants(eve)) == []


def test_it_checks_object_permissions_through_rules(frank, acme, globex):
    assert frank.has_perm("tenants.operate_tenant", acme)
    assert not frank.has_perm("tenants.operate_tenant", globex)
    assert not frank.has_perm("tenants.administer_tenant", acme)


def test_it_treats_an_inactive_user_as_having_no_role(alice):
    alice.is_active = False
    alice.save()
    access.forget(alice)
    assert access.role_of(alice) is None


@pytest.mark.parametrize(
    ("granter", "role", "tenants", "allowed"),
    [
        ("alice", Role.ADMIN, None, True),
        ("grace", Role.OPERATOR, {"acme"}, True),
        ("grace", Role.OPERATOR, None, False),
        ("grace", Role.VIEWER, {"acme", "globex"}, False),
        ("frank", Role.VIEWER, {"acme"}, False),
    ],
)
def test_it_lets_admins_grant_only_within_their_own_reach(request, acme, globex, granter, role, tenants, allowed):
    user = request.getfixturevalue(granter)
    ids = None if tenants is None else frozenset(Tenant.objects.filter(slug__in=tenants).values_list("id", flat=True))
    assert (access.may_grant(user, role, ids) is None) is allowed
