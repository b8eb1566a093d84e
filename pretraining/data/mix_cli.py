"""``njsl mix``: validate a data mix and report tokens, epochs and % composition.

  njsl mix report MIXFILE [--tokens 10B] [--json]
  njsl mix validate MIXFILE
"""
from __future__ import annotations

import argparse
import json
import sys
from njsl.cli import guarded


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="tokens per domain, epochs for a token budget, %% composition")
    rep.add_argument("mix", help="mix file: paper format 'w path w path ...' or YAML with named domains")
    rep.add_argument("--tokens", default=None, help="training token budget, e.g. 300M, 1.5B, 2e9")
    rep.add_argument("--json", action="store_true", help="print JSON instead of a table")
    val = sub.add_parser("validate", help="check the file (weights, categories, .bin/.idx present)")
    val.add_argument("mix")
    val.add_argument("--no_check_paths", action="store_true", help="only check syntax (for templates)")
    return p


@guarded
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    from njsl.units import parse_token_count
    from pretraining.data.mixes import load_mix

    if args.command == "validate":
        mix = load_mix(args.mix, check_paths=not args.no_check_paths)
        print(f"ok: {mix.name}: " + ", ".join(f"{d.name} {100 * d.weight:.2f}%" for d in mix.domains))
        return 0
    budget = parse_token_count(args.tokens) if args.tokens is not None else None
    mix = load_mix(args.mix)
    rows = mix.report(budget)
    comp = mix.composition()
    if args.json:
        print(json.dumps({"mix": mix.name, "token_budget": budget, "domains": rows, "composition_pct": comp}, indent=1))
        return 0
    print(f"mix {mix.name} ({mix.source})" + (f", budget {budget:,} tokens" if budget else ""))
    w = max([16] + [len(r["domain"]) for r in rows])
    head = f"{'domain':<{w}} {'category':<14} {'weight':>8} {'tokens':>16}"
    head += f" {'drawn':>16} {'epochs':>8}" if budget else ""
    print(head)
    for r in rows:
        line = f"{r['domain']:<{w}} {r['category'] + ('?' if r['category_guessed'] else ''):<14} " \
               f"{100 * r['weight']:>7.2f}% {r['tokens_available']:>16,}"
        if budget:
            line += f" {int(r['tokens_drawn']):>16,} {r['epochs']:>8.3f}"
        print(line)
    if any(r["category_guessed"] for r in rows):
        print("? category guessed from the file name (use a YAML mix to set it)")
    print("composition: " + ", ".join(f"{k} {v:.2f}%" for k, v in comp.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
