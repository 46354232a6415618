"""`latent-studio plugins`: which generator families and labellers are installed, where drop-ins are looked
for, and which plugins failed to load (the first thing a plugin author needs to see)."""
from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("plugins", help="list generator plugins, drop-in folders and plugin load problems",
                       description="List installed generator plugins and the folders searched for drop-ins.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_plugins)


def cmd_plugins(ns: argparse.Namespace) -> int:
    from studio.model.labellers import discover_labellers
    from studio.model.registry import PLUGIN_PATH_ENV, Registry, plugin_search_paths

    reg = Registry.discover()
    labs = discover_labellers()
    report = {
        "plugins": [{"name": p.name, "formats": p.formats, "module": type(p).__module__} for p in reg.plugins],
        "labellers": [{"name": x.name, "attributes": list(x.attributes), "domain": x.domain, "origin": x.origin}
                      for x in labs.labellers],
        "search_paths": [{"path": str(p), "exists": p.exists()} for p in plugin_search_paths()],
        "problems": list(dict.fromkeys(reg.problems + labs.problems)),  # a broken drop-in is said once
    }
    if ns.json:
        print(json.dumps(report, indent=2))
        return 0
    for p in report["plugins"]:
        print(f"{p['name']:<12} {p['formats']}  [{p['module']}]")
    print("\nlabellers (for fitting directions):")
    for x in report["labellers"]:
        print(f"  {x['name']}: {', '.join(x['attributes'])}  [{x['domain'] or 'domain not stated'}]")
    print(f"\ndrop-in folders (and ${PLUGIN_PATH_ENV}):")
    for s in report["search_paths"]:
        print(f"  {s['path']}{'' if s['exists'] else '  (does not exist)'}")
    if report["problems"]:
        print("\nproblems:")
        for line in report["problems"]:
            print(f"  {line}")
    return 0
