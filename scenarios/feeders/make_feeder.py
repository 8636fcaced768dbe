"""Derive the shipped IEEE-33 feeder tables from pandapower (see PROVENANCE.md next to this file).

Run ``python scenarios/feeders/make_feeder.py`` to regenerate the three CSVs; :func:`scenarios.feeder.load_ieee33`
reads them, nothing else writes them.  The rule is the one of :func:`scenarios.feeder._feeder_from_pandapower`
applied to ``pandapower.networks.case33bw()``: buses renumbered ``pandapower index + 1`` (bus 1 is the
substation), each line's impedance ``r = r_ohm_per_km * length_km / parallel`` (likewise ``x``), the 32
in-service lines oriented away from the substation (``kind = radial``) and the 5 out-of-service tie lines
as they are (``kind = tie``), each bus's load the sum of its in-service loads ``1000 * p_mw * scaling`` kW
(likewise kvar).  Numbers are written with Python's shortest round-trip ``repr``, so the tables read back
to exactly the floats pandapower gives.

* ``ieee33_branches.csv`` — ``from_bus, to_bus, r_ohm, x_ohm, kind`` (radial first, in pandapower's line order);
* ``ieee33_buses.csv`` — ``bus, p_load_kw, q_load_kvar`` (buses 1..33);
* ``ieee33_base.csv`` — one row: ``v_base_kv, s_base_mva, root, pandapower_version``.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository root, when run as a script

from scenarios.feeder import FEEDER_TABLES, Feeder, ieee33_from_pandapower  # noqa: E402


def write_tables(feeder: Feeder, pandapower_version: str, folder: Path = HERE, name: str = "ieee33") -> None:
    """Write ``feeder`` as the three CSVs ``<name>_branches.csv``, ``<name>_buses.csv``, ``<name>_base.csv``."""
    with open(folder / FEEDER_TABLES["branches"].format(name=name), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["from_bus", "to_bus", "r_ohm", "x_ohm", "kind"])
        for kind, branches in (("radial", feeder.branches), ("tie", feeder.tie_lines)):
            for br in branches:
                w.writerow([br.from_bus, br.to_bus, repr(br.r_ohm), repr(br.x_ohm), kind])
    with open(folder / FEEDER_TABLES["buses"].format(name=name), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["bus", "p_load_kw", "q_load_kvar"])
        for b, p, q in zip(feeder.buses, feeder.p_load_kw, feeder.q_load_kvar, strict=True):
            w.writerow([b, repr(float(p)), repr(float(q))])
    with open(folder / FEEDER_TABLES["base"].format(name=name), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["v_base_kv", "s_base_mva", "root", "pandapower_version"])
        w.writerow([repr(feeder.v_base_kv), repr(feeder.s_base_mva), feeder.root, pandapower_version])


def main() -> None:
    feeder, version = ieee33_from_pandapower()
    write_tables(feeder, version)
    print(f"wrote {feeder.n_branches} branches, {len(feeder.tie_lines)} tie lines, {feeder.n_buses} buses "
          f"(pandapower {version}) to {HERE}")


if __name__ == "__main__":
    main()
