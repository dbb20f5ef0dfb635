"""Image contract and names contract, over the synthesised cloud assembly.

*Image:* walk the import graph from ``python -m matcher``, ``python -m matcher.jobs``,
the ops task's ``python -m chalicelib.cli`` and the stream gateway's ``python -m gateway``
(every ``import`` statement, including the lazy ones inside functions): each of our modules must be in the staged Docker
asset, and each third-party top-level import must be provided by a distribution the
asset's requirements files list (resolved through ``importlib.metadata``; a real venv
build from those files is too slow for the suite, so this is the check made).

*Names:* every log group, alarm and metric filter refers to a function, service or
table name that the templates (or Chalice, for its functions) actually create.
"""
from __future__ import annotations

import ast
import importlib.metadata as md
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("dev", "prod")
ENTRY_POINTS = ("matcher/__main__.py", "matcher/jobs.py", "chalicelib/cli.py", "gateway/__main__.py")
OURS = ("matcher", "chalicelib", "gateway")


def _module_file(root: Path, name: str) -> Path | None:
    parts = name.split(".")
    for candidate in (root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts, "__init__.py")):
        if candidate.exists():
            return candidate
    return None


def import_graph(root: Path, entries=ENTRY_POINTS) -> tuple[set[str], set[str]]:
    """(our modules reached, third-party top-level names imported by them)."""
    ours, third, todo = set(), set(), []
    for e in entries:
        todo.append((e.removesuffix(".py").replace("/", "."), root / e))
    while todo:
        name, path = todo.pop()
        if name in ours:
            continue
        ours.add(name)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = package.split(".")
                    pkg = pkg[: len(pkg) - node.level + 1]
                    base = ".".join(pkg + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                top = t.split(".")[0]
                if top in OURS:
                    # the module itself, and each package on the way to it
                    bits = t.split(".")
                    for i in range(1, len(bits) + 1):
                        sub = ".".join(bits[:i])
                        f = _module_file(ROOT, sub)
                        if f is not None and sub not in ours:
                            todo.append((sub, f))
                elif top and top not in sys.stdlib_module_names and top != "__future__":
                    third.add(top)
    return ours, third


def _requirements(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            names |= _requirements((path.parent / line[3:].strip()).resolve())
            continue
        names.add(re.split(r"[\[<>=!~; ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def _staged(synth, stage: str) -> Path:
    assets = json.loads((synth.outdir / f"Exchange-{stage}-Matcher.assets.json").read_text())
    (image,) = assets["dockerImages"].values()
    return synth.outdir / image["source"]["directory"]


@pytest.mark.parametrize("stage", STAGES)
def test_the_image_holds_every_module_its_entry_points_import(synth, stage):
    staged = _staged(synth, stage)
    ours, _ = import_graph(ROOT)
    assert {"matcher.service.worker", "chalicelib.settings", "chalicelib.db", "chalicelib.migrate",
            "gateway.server", "gateway.wsapi", "chalicelib.api.trading"} <= ours
    missing = [m for m in sorted(ours) if _module_file(staged, m) is None]
    assert not missing, f"not in the image asset: {missing}"
    # data files the code reads
    assert (staged / "chalicelib" / "symbols.json").exists()
    assert sorted(p.name for p in (staged / "chalicelib" / "migrations").glob("*.sql")) == sorted(
        p.name for p in (ROOT / "chalicelib" / "migrations").glob("*.sql"))
    # nothing the image must not carry
    assert not (staged / ".venv").exists() and not (staged / "tests").exists() and not (staged / ".git").exists()


@pytest.mark.parametrize("stage", STAGES)
def test_the_asset_requirements_provide_every_third_party_import(synth, stage):
    """Every third-party top-level import of the image's code is provided by a
    distribution listed (directly or by ``-r``) in the asset's requirements files."""
    staged = _staged(synth, stage)
    dockerfile = (staged / "infra/docker/matcher.Dockerfile").read_text()
    assert "pip install -r matcher/requirements.txt -r gateway/requirements.txt" in dockerfile
    assert "COPY gateway/ gateway/" in dockerfile
    listed = _requirements(staged / "matcher" / "requirements.txt") | _requirements(staged / "gateway" /
                                                                                    "requirements.txt")
    providers = md.packages_distributions()
    _, third = import_graph(ROOT)
    unprovided = {}
    for top in sorted(third):
        dists = {d.lower().replace("_", "-") for d in providers.get(top, [])}
        if not dists & listed:
            unprovided[top] = sorted(dists)
    assert not unprovided, f"imported by the image's code but not in its requirements: {unprovided}"


# ------------------------------------------------------------------------- names
def _names_created(synth, stage: str) -> set[str]:
    from infra.units import lambda_function_names

    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    names = set(lambda_function_names(stage, config["app_name"]).values())   # Chalice's functions
    names.add(config["app_name"])                                              # Chalice's REST API name
    for part in ("Data", "Matcher"):
        for r in synth.template(stage, part)["Resources"].values():
            p = r.get("Properties", {})
            for key in ("FunctionName", "ServiceName", "TableName", "ClusterName"):
                if isinstance(p.get(key), str):
                    names.add(p[key])
            if r["Type"] == "AWS::ElastiCache::ReplicationGroup":   # nodes: <group>-001, -002, ...
                names |= {f"{p['ReplicationGroupId']}-{i:03d}" for i in range(1, 2 + p["ReplicasPerNodeGroup"])}
    return names


@pytest.mark.parametrize("stage", STAGES)
def test_log_groups_alarms_and_metric_filters_name_what_exists(synth, stage):
    created = _names_created(synth, stage)
    problems = []
    for part in ("Network", "Data", "Matcher", "Ops", "ApiGuard"):
        t = synth.template(stage, part)
        for lid, r in t["Resources"].items():
            p = r.get("Properties", {})
            if r["Type"] == "AWS::Logs::LogGroup" and isinstance(p.get("LogGroupName"), str):
                name = p["LogGroupName"]
                if name.startswith("/aws/lambda/") and name.removeprefix("/aws/lambda/") not in created:
                    problems.append(f"{part}/{lid}: log group of unknown function {name}")
            if r["Type"] == "AWS::Logs::MetricFilter" and isinstance(p.get("LogGroupName"), str):
                if not any(p["LogGroupName"] == g.get("Properties", {}).get("LogGroupName")
                           for g in t["Resources"].values()):
                    problems.append(f"{part}/{lid}: metric filter on a log group no template creates")
            if r["Type"] == "AWS::CloudWatch::Alarm":
                for d in p.get("Dimensions", []) + [d for m in p.get("Metrics", [])
                                                    for d in m.get("MetricStat", {}).get("Metric", {}).get(
                                                        "Dimensions", [])]:
                    v = d.get("Value")
                    if d["Name"] in ("FunctionName", "TableName", "ServiceName", "ClusterName", "ApiName",
                                     "CacheClusterId") and \
                            isinstance(v, str) and v not in created:
                        problems.append(f"{part}/{lid}: alarm on unknown {d['Name']} {v}")
    assert not problems, "\n".join(problems)
    # the IAM log statements of the Chalice functions name those very log groups
    ops = synth.template(stage, "Ops")
    groups = {r["Properties"]["LogGroupName"] for r in ops["Resources"].values()
              if r["Type"] == "AWS::Logs::LogGroup" and isinstance(r["Properties"].get("LogGroupName"), str)}
    from infra.units import lambda_function_names

    assert {f"/aws/lambda/{n}" for n in lambda_function_names(stage).values()} <= groups


def test_backup_export_reads_exactly_its_declared_settings():
    """Every ``os.environ[...]`` the export handler reads is declared, and every
    declared setting is read (the start contract runs it with exactly those)."""
    from infra.stacks.backup_export import LAMBDAS_DIR, declared_settings

    tree = ast.parse((LAMBDAS_DIR / "backup_export.py").read_text())
    read = {n.slice.value for n in ast.walk(tree) if isinstance(n, ast.Subscript)
            and ast.unparse(n.value) == "os.environ" and isinstance(n.slice, ast.Constant)}
    assert read == set(declared_settings())
