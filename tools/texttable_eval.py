#!/usr/bin/env python3
"""Measures docvl's text-layer table detection (docs/tables.md).

Usage: tools/texttable_eval.py DOCVL CORPUS_DIR [--fp PDF...] [--verbose]

For each ICDAR-2013 PDF in CORPUS_DIR/tables/icdar2013 it runs
`DOCVL -q -f md --text-tables` and compares the GFM tables with the
ground truth (*.gt.md, one Markdown table per region, page in its heading):
- a ground-truth table is found when a detected table on the same page holds
  at least half of its non-empty cells (exact text after normalising white
  space); a detected table is correct when it is matched so;
- cell content: the fraction of ground-truth non-empty cells whose text is a
  cell of the matched detected table (0 for tables not found);
- adjacency (ICDAR 2013's structure measure): the pairs of a non-empty cell
  and its next non-empty neighbour to the right and below; recall is the
  fraction of ground-truth pairs that the matched detected table has too,
  precision the fraction of detected pairs (in matched tables) that the
  ground truth has.
With --fp it counts the tables detected in other PDFs (should be none).
Measurement only: nothing in the build or the tests needs it.
"""
import re
import subprocess
import sys
from pathlib import Path


def norm(s):
    s = re.sub(r"\\(.)", r"\1", s)
    return " ".join(s.split())


def split_row(line):
    cells, cur, i = [], "", 0
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line):
            cur += line[i:i + 2]
            i += 2
            continue
        if ch == "|":
            cells.append(norm(cur))
            cur = ""
        else:
            cur += ch
        i += 1
    if cur.strip():
        cells.append(norm(cur))
    return cells


def tables_in(md):
    """[(page, rows)] of the pipe tables in md; page from <!-- page N -->
    or a '### table ... (page N)' heading."""
    out, page, rows = [], 0, None
    for line in md.split("\n"):
        m = re.match(r"<!-- page (\d+) -->", line) or re.match(r"###.*\(page (\d+)\)", line)
        if m:
            page = int(m.group(1))
        if line.startswith("|"):
            if re.match(r"^\|(\s*:?-{3,}:?\s*\|)+\s*$", line):
                continue
            if rows is None:
                rows = []
                out.append((page, rows))
            rows.append(split_row(line))
        else:
            rows = None
    return out


def relations(rows):
    rel = set()
    for r, row in enumerate(rows):
        for c, t in enumerate(row):
            if not t:
                continue
            for cc in range(c + 1, len(row)):
                if row[cc]:
                    rel.add((t, row[cc], "h"))
                    break
            for rr in range(r + 1, len(rows)):
                if c < len(rows[rr]) and rows[rr][c]:
                    rel.add((t, rows[rr][c], "v"))
                    break
    return rel


def cells(rows):
    return [t for row in rows for t in row if t]


def run(docvl, pdf):
    p = subprocess.run([docvl, "-q", "-f", "md", "--text-tables", str(pdf)],
                       capture_output=True, text=True, timeout=300)
    return p.stdout


def main():
    docvl, corpus = sys.argv[1], Path(sys.argv[2])
    verbose = "--verbose" in sys.argv
    fp = sys.argv[sys.argv.index("--fp") + 1:] if "--fp" in sys.argv else []
    fp = [f for f in fp if f != "--verbose"]
    gt_n = det_n = found = det_ok = 0
    cell_tot = cell_ok = rel_gt = rel_gt_ok = rel_det = rel_det_ok = 0
    for pdf in sorted((corpus / "tables" / "icdar2013").glob("*.pdf")):
        gt = tables_in((pdf.with_suffix("")).with_suffix(".gt.md").read_text()
                       if False else pdf.parent.joinpath(pdf.stem + ".gt.md").read_text())
        det = tables_in(run(docvl, pdf))
        used = set()
        gt_n += len(gt)
        det_n += len(det)
        for page, rows in gt:
            gcells = cells(rows)
            grel = relations(rows)
            cell_tot += len(gcells)
            rel_gt += len(grel)
            best, best_k = 0, -1
            for k, (dpage, drows) in enumerate(det):
                if dpage != page:
                    continue
                dset = set(cells(drows))
                hit = sum(1 for t in gcells if t in dset)
                if hit > best:
                    best, best_k = hit, k
            if best_k < 0 or best < 0.5 * max(1, len(gcells)):
                if verbose:
                    print(f"MISS {pdf.name} p{page} ({len(rows)}x{max(map(len, rows))})")
                continue
            found += 1
            used.add(best_k)
            drows = det[best_k][1]
            cell_ok += best
            drel = relations(drows)
            rel_gt_ok += len(grel & drel)
            rel_det += len(drel)
            rel_det_ok += len(grel & drel)
            if verbose:
                print(f"HIT  {pdf.name} p{page} cells {best}/{len(gcells)} "
                      f"adj {len(grel & drel)}/{len(grel)} (det {len(drel)})")
        det_ok += len(used)
        if verbose:
            for k, (dpage, drows) in enumerate(det):
                if k not in used:
                    print(f"FP?  {pdf.name} p{dpage} {len(drows)} rows: {drows[0][:4]}")
    print(f"ICDAR-2013: {gt_n} GT tables, {det_n} detected")
    print(f"  table recall    {found}/{gt_n} = {found / max(1, gt_n):.3f}")
    print(f"  table precision {det_ok}/{det_n} = {det_ok / max(1, det_n):.3f}")
    print(f"  cell content    {cell_ok}/{cell_tot} = {cell_ok / max(1, cell_tot):.3f}")
    print(f"  adjacency recall    {rel_gt_ok}/{rel_gt} = {rel_gt_ok / max(1, rel_gt):.3f}")
    print(f"  adjacency precision {rel_det_ok}/{rel_det} = {rel_det_ok / max(1, rel_det):.3f}")
    total = 0
    for f in fp:
        n = len(tables_in(run(docvl, f)))
        total += n
        if n or verbose:
            print(f"  false positives: {n} in {f}")
    if fp:
        print(f"non-table PDFs: {len(fp)} files, {total} tables detected")


if __name__ == "__main__":
    main()
