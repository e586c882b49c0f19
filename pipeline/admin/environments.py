"""`px-admin env create|list`: environments and their place in the promotion order.

A new environment goes into `policies/promotion.yaml`'s order right after `--after`; every
later environment's `position` in its environment.yaml moves up by one, in the same commit,
so the order and the files keep agreeing (the `order` gate of `powerx check`).
`--from-template ENV` starts its tenants and groups as ENV's (grants are per environment
and are not copied: grant them where the plugins run).
"""

from __future__ import annotations

from dataclasses import dataclass

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from pipeline import layout
from pipeline.admin.plan import AdminEdit, Editor
from pipeline.admin.state import environment_names, environment_view
from pipeline.admin.yamledit import EnvironmentFile, require_new_name
from pipeline.errors import InputError, Location
from pipeline.models.base import API_VERSION
from pipeline.names import deployed_plugins, require_environment, require_in_order
from pipeline.policy.edit import YAML_WIDTH, block_seq
from pipeline.snapshot import Snapshot
from pipeline.yamlio import dump_yaml, parse_yaml

PROMOTION = "PromotionPolicy"


def create_environment(
    name: str, after: str, *, template: str | None = None, description: str = ""
) -> Editor:
    """Insert environment `name` into the promotion order right after `after`."""
    require_new_name("environment", name)
    if name == after:
        raise InputError(
            f"--after {after}: an environment cannot come after itself (a cycle in the "
            "promotion order)",
            hint="name the environment the new one follows, e.g. --after test",
        )

    def edit(snapshot: Snapshot) -> AdminEdit:
        policies = snapshot.policies()
        order = list(policies.promotion.order)
        path = policies.sources.get(PROMOTION, f"{layout.POLICIES}/promotion.yaml")
        if name in environment_names(snapshot):
            where = order.index(name) if name in order else None
            raise InputError(
                f"environment {name!r} already exists"
                + (f" (position {where} of the promotion order)" if where is not None else ""),
                location=Location(path) if where is not None else None,
                hint="choose another name",
            )
        require_in_order(after, order)
        position = order.index(after) + 1
        changes: dict[str, bytes | None] = {path: _insert(snapshot, path, name, position)}
        shifted = order[position:]
        for later, index in zip(shifted, range(position + 1, len(order) + 1), strict=True):
            if snapshot.environment(later) is None:
                continue
            file = EnvironmentFile.read(snapshot, later)
            file.tree["position"] = index
            changes[file.path] = file.content()
        tree = _new_file(name, position, description, template, snapshot)
        changes[layout.environment_path(name)] = dump_yaml(tree, width=YAML_WIDTH).encode()
        notes = [f"promotion order: {' -> '.join([*order[:position], name, *shifted])}"]
        notes += [f"{later} moves to position {order.index(later) + 1}" for later in shifted]
        if template:
            notes.append(f"tenants and groups from {template} (grants are not copied)")
        return AdminEdit(
            "env-create",
            (name, *shifted),
            f"Create environment {name} after {after}",
            changes,
            tuple(notes),
            extra={"After": after, **({"Template": template} if template else {})},
        )

    return edit


def _insert(snapshot: Snapshot, path: str, name: str, position: int) -> bytes:
    raw = snapshot.read(path)
    if raw is None:  # the seed's order, written out
        tree = CommentedMap([("apiVersion", API_VERSION), ("kind", PROMOTION)])
        tree["order"] = CommentedSeq(snapshot.policies().promotion.order)
    else:
        tree = parse_yaml(raw, path).tree
    block_seq(tree, "order").insert(position, name)
    return dump_yaml(tree, width=YAML_WIDTH).encode()


def _new_file(
    name: str, position: int, description: str, template: str | None, snapshot: Snapshot
) -> CommentedMap:
    tree = CommentedMap(
        [
            ("apiVersion", API_VERSION),
            ("kind", "Environment"),
            ("name", name),
            ("position", position),
            ("description", description or (f"Made from {template}." if template else "")),
        ]
    )
    if template is None:
        return tree
    require_environment(snapshot, template)
    source = EnvironmentFile.read(snapshot, template).loaded.model
    tenants = CommentedSeq()
    for tenant in source.tenants:
        entry = CommentedMap([("id", tenant.id)])
        if tenant.name:
            entry["name"] = tenant.name
        tenants.append(entry)
    tree["tenants"] = tenants
    if source.groups:
        groups = CommentedMap()
        for group, members in source.groups.items():
            groups[group] = CommentedSeq(members)
            groups[group].fa.set_flow_style()
        tree["groups"] = groups
    return tree


@dataclass(frozen=True)
class EnvironmentRow:
    """One environment for `px-admin env list`."""

    name: str
    position: int | None
    via: str
    tenants: int
    groups: tuple[str, ...]
    plugins: int


def environment_rows(snapshot: Snapshot) -> list[EnvironmentRow]:
    """Every environment, in the promotion order."""
    promotion = snapshot.policies().promotion
    rows = []
    for env in environment_names(snapshot):
        has_file = snapshot.environment(env) is not None
        view = environment_view(snapshot, env) if has_file else None
        rows.append(
            EnvironmentRow(
                env,
                view.position if view else None,
                promotion.via.get(env, "commit") if env in promotion.order else "(not in order)",
                len(view.tenants) if view else 0,
                tuple(view.groups) if view else (),
                len(deployed_plugins(snapshot, env)),
            )
        )
    return rows
