def test_world_builds(world):
    assert world.rep_east.tenant_id == world.tenant_a.pk
    assert world.east.path.startswith(world.sales.path)
