#!/usr/bin/env python3
"""Scores docvl's Markdown tables against ICDAR 2013 table competition
ground truth (docs/tables.md).

Usage: tools/texttable_eval.py DOCVL DIR [options]

DIR holds ICDAR 2013 documents: NAME.pdf with NAME-str.xml (the
competition's structure ground truth). For each document the script runs
`DOCVL -q -f md NAME.pdf` and reads its pipe tables, each with the page of
its "<!-- page N -->" comment.

Structure (the competition's measure, Göbel et al., ICDAR 2013): every
non-blank cell is related to its nearest non-blank neighbour to the right
and its nearest non-blank neighbour below; a cell spanning rows (columns)
is related to the neighbour of each row (column) it spans; blank cells are
skipped, not neighbours. Cells are compared by content, upper-cased with
white space removed. Each ground-truth region is matched to the detected
table on its page that shares most cells with it (one table per region).
Precision is the correct relations over all relations of detected tables
(those matching no region included, so a false table costs precision),
recall the correct relations over all ground-truth relations, F1 their
harmonic mean; all three are micro averages (sums over every table).

Also printed: the regions whose matched table has exactly their rows x
columns, and cell recall: the ground-truth cells whose text (upper case, no
white space) occurs in the page's output with its table pipes and Markdown
escapes removed; with --pdftotext the same for `pdftotext` of the page.

Options:
  --half A|B        only the documents of one half (sorted by name, every
                    other one: A the 1st, 3rd, ..., B the 2nd, 4th, ...)
  --gt-md           score DIR's NAME.gt.md instead of running DOCVL (the
                    ground truth written as pipe tables: the ceiling)
  --pdftotext       also the cell recall of pdftotext
  --fp PDF...       count the tables DOCVL reports in these PDFs (expected:
                    none); must come last
  --min-f1 X, --min-exact N, --max-fp N
                    exit 1 when F1 < X, exact regions < N or false tables
                    > N (for the test suite)
  --verbose         one line per region
"""
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path


def norm(s):
    """A cell's content as the competition compares it."""
    return "".join(s.split()).upper()


class Table:
    """A grid of cells: each (r0, c0, r1, c1, text), inclusive spans."""

    def __init__(self, page, cells):
        self.page = page
        self.cells = cells
        self.rows = 1 + max((c[2] for c in cells), default=-1)
        self.cols = 1 + max((c[3] for c in cells), default=-1)

    def texts(self):
        return Counter(norm(c[4]) for c in self.cells if norm(c[4]))

    def relations(self):
        at = {}
        for k, (r0, c0, r1, c1, _) in enumerate(self.cells):
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    at[(r, c)] = k
        pairs = set()
        for k, (r0, c0, r1, c1, text) in enumerate(self.cells):
            if not norm(text):
                continue
            for r in range(r0, r1 + 1):
                self._nearest(at, k, r, c1 + 1, 0, 1, "h", pairs)
            for c in range(c0, c1 + 1):
                self._nearest(at, k, r1 + 1, c, 1, 0, "v", pairs)
        return Counter((norm(self.cells[a][4]), norm(self.cells[b][4]), d)
                       for a, b, d in pairs)

    def _nearest(self, at, k, r, c, dr, dc, d, pairs):
        while r < self.rows and c < self.cols:
            j = at.get((r, c))
            if j is not None and j != k and norm(self.cells[j][4]):
                pairs.add((k, j, d))
                return
            r, c = r + dr, c + dc


def gt_tables(xml_path):
    """The regions of an ICDAR 2013 -str.xml, each as a Table."""
    out = []
    for table in ET.parse(xml_path).getroot().iter("table"):
        for region in table.iter("region"):
            cells = []
            for cell in region.iter("cell"):
                r0, c0 = int(cell.get("start-row")), int(cell.get("start-col"))
                r1 = int(cell.get("end-row", r0))
                c1 = int(cell.get("end-col", c0))
                content = cell.find("content")
                text = content.text if content is not None and content.text else ""
                cells.append((r0, c0, r1, c1, text))
            rmin = min((c[0] for c in cells), default=0)
            cmin = min((c[1] for c in cells), default=0)
            cells = [(a - rmin, b - cmin, c - rmin, d - cmin, t) for a, b, c, d, t in cells]
            out.append(Table(int(region.get("page")), cells))
    return out


def unescape(s):
    return re.sub(r"\\(.)", r"\1", s)


def split_row(line):
    """The cells of a pipe-table row (escaped pipes stay in their cell)."""
    cells = re.split(r"(?<!\\)\|", line.strip())
    if cells and not cells[0].strip():
        cells = cells[1:]
    if cells and not cells[-1].strip() and line.rstrip().endswith("|"):
        cells = cells[:-1]
    return [unescape(c).strip() for c in cells]


DELIM = re.compile(r"^\|?(\s*:?-{3,}:?\s*\|)+\s*(:?-{3,}:?\s*)?$")


def md_pages(md):
    """{page: text} of docvl's Markdown, pages from "<!-- page N -->"."""
    pages, page = {}, 1
    for line in md.split("\n"):
        m = re.match(r"<!-- page (\d+) -->", line) or re.match(r"###.*\(page (\d+)\)", line)
        if m:
            page = int(m.group(1))
        pages.setdefault(page, []).append(line)
    return {p: "\n".join(lines) for p, lines in pages.items()}


def md_tables(md):
    """The pipe tables of md as Tables of one-cell spans."""
    out = []
    for page, text in md_pages(md).items():
        rows = None
        for line in text.split("\n"):
            if not line.startswith("|"):
                rows = None
                continue
            if DELIM.match(line):
                continue
            if rows is None:
                rows = []
                out.append((page, rows))
            rows.append(split_row(line))
    return [Table(p, [(r, c, r, c, t) for r, row in enumerate(rows) for c, t in enumerate(row)])
            for p, rows in out]


def page_text(md_page):
    """A page's output as one string to search cells in."""
    lines = []
    for line in md_page.split("\n"):
        if line.startswith("|"):
            if DELIM.match(line):
                continue
            line = " ".join(split_row(line))
        else:
            line = unescape(line)
        lines.append(line)
    return norm(" ".join(lines))


def match(gts, dets):
    """Pairs (gt index, det index or None): each region gets the detected
    table of its page sharing most cells with it, greedily, best first."""
    cand = []
    for i, g in enumerate(gts):
        gt = g.texts()
        for j, d in enumerate(dets):
            if d.page == g.page:
                shared = sum((gt & d.texts()).values())
                if shared:
                    cand.append((-shared, i, j))
    pairs, used_g, used_d = {}, set(), set()
    for _, i, j in sorted(cand):
        if i not in used_g and j not in used_d:
            pairs[i] = j
            used_g.add(i)
            used_d.add(j)
    return [(i, pairs.get(i)) for i in range(len(gts))]


class Score:
    def __init__(self):
        self.gt_rel = self.det_rel = self.ok_rel = 0
        self.regions = self.exact = self.found = self.det_tables = 0
        self.cells = self.cells_md = self.cells_pdftotext = 0

    def f1(self):
        p = self.ok_rel / max(1, self.det_rel)
        r = self.ok_rel / max(1, self.gt_rel)
        return p, r, 2 * p * r / max(1e-9, p + r)


def run_docvl(docvl, pdf):
    p = subprocess.run([docvl, "-q", "-f", "md", str(pdf)], capture_output=True, text=True,
                       timeout=300)
    if p.returncode != 0:
        sys.exit(f"{docvl} failed on {pdf} ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def run_pdftotext(pdf):
    p = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True,
                       text=True, timeout=300)
    return {k + 1: norm(t) for k, t in enumerate(p.stdout.split("\f"))}


def score_doc(s, name, gts, md, pdftotext, verbose):
    dets = md_tables(md)
    pages = {p: page_text(t) for p, t in md_pages(md).items()}
    s.regions += len(gts)
    s.det_tables += len(dets)
    for j, d in enumerate(dets):
        s.det_rel += sum(d.relations().values())
    for i, j in match(gts, dets):
        g = gts[i]
        grel = g.relations()
        s.gt_rel += sum(grel.values())
        ok = exact = 0
        if j is not None:
            d = dets[j]
            s.found += 1
            ok = sum((grel & d.relations()).values())
            exact = (d.rows, d.cols) == (g.rows, g.cols)
        s.ok_rel += ok
        s.exact += exact
        cells = [norm(c[4]) for c in g.cells if norm(c[4])]
        s.cells += len(cells)
        s.cells_md += sum(1 for c in cells if c in pages.get(g.page, ""))
        if pdftotext:
            s.cells_pdftotext += sum(1 for c in cells if c in pdftotext.get(g.page, ""))
        if verbose:
            shape = f"{dets[j].rows}x{dets[j].cols}" if j is not None else "none"
            print(f"{name} p{g.page} {g.rows}x{g.cols} -> {shape} adj {ok}/{sum(grel.values())}"
                  f"{' EXACT' if exact else ''}")
    if verbose:
        matched = {j for _, j in match(gts, dets)}
        for j, d in enumerate(dets):
            if j not in matched:
                print(f"{name} p{d.page} unmatched table {d.rows}x{d.cols}")


def option(name, default=None):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def count_tables(docvl, pdfs, verbose):
    total = 0
    for f in pdfs:
        n = len(md_tables(run_docvl(docvl, f)))
        total += n
        if n or verbose:
            print(f"  {n} tables in {f}")
    return total


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    docvl, root = sys.argv[1], Path(sys.argv[2])
    verbose = "--verbose" in sys.argv
    fp = sys.argv[sys.argv.index("--fp") + 1:] if "--fp" in sys.argv else []
    docs = sorted(p for p in root.glob("*.pdf") if p.with_name(p.stem + "-str.xml").exists())
    half = option("--half")
    if half:
        docs = docs[0 if half == "A" else 1::2]
    s = Score()
    for pdf in docs:
        gts = gt_tables(pdf.with_name(pdf.stem + "-str.xml"))
        if "--gt-md" in sys.argv:
            md = pdf.with_name(pdf.stem + ".gt.md").read_text()
        else:
            md = run_docvl(docvl, pdf)
        ptt = run_pdftotext(pdf) if "--pdftotext" in sys.argv else None
        score_doc(s, pdf.stem, gts, md, ptt, verbose)
    p, r, f1 = s.f1()
    print(f"ICDAR 2013 structure, {len(docs)} documents{' (half ' + half + ')' if half else ''}:"
          f" {s.regions} regions, {s.det_tables} tables detected, {s.found} matched")
    print(f"  adjacency precision {s.ok_rel}/{s.det_rel} = {p:.3f}"
          f"  recall {s.ok_rel}/{s.gt_rel} = {r:.3f}  F1 = {f1:.3f}")
    print(f"  exact rows x columns {s.exact}/{s.regions} = {s.exact / max(1, s.regions):.3f}")
    print(f"  cell recall md {s.cells_md}/{s.cells} = {s.cells_md / max(1, s.cells):.3f}", end="")
    if "--pdftotext" in sys.argv:
        print(f", pdftotext {s.cells_pdftotext}/{s.cells} = "
              f"{s.cells_pdftotext / max(1, s.cells):.3f}")
    else:
        print()
    false_tables = count_tables(docvl, fp, verbose) if fp else 0
    if fp:
        print(f"  tables in {len(fp)} PDFs without any: {false_tables}")
    fails = []
    if option("--min-f1") and f1 < float(option("--min-f1")):
        fails.append(f"F1 {f1:.3f} < {option('--min-f1')}")
    if option("--min-exact") and s.exact < int(option("--min-exact")):
        fails.append(f"exact {s.exact} < {option('--min-exact')}")
    if option("--max-fp") and false_tables > int(option("--max-fp")):
        fails.append(f"false tables {false_tables} > {option('--max-fp')}")
    if fails:
        sys.exit("FAIL: " + "; ".join(fails))


if __name__ == "__main__":
    main()
