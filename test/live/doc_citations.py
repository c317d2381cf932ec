#!/usr/bin/env python3
"""Behaviour citations resolve (issue 22), for test/live/docs.sh.

    doc_citations.py ROOT

Prints one line per check, "ok<TAB>description" or
"not ok<TAB>description: what is wrong":

1. every citation in src/*.[ch] and sql/install/*.sql (and, as a check of
   its own, in the pgTAP and isolation suites) has the form
   "behaviour/<doc> §<id>[, §<id>...]" and each section is a heading of
   doc/behaviour/<doc>.md (a "§" in any other form fails);
2. README.md, src/README.md, test/README.md and doc/**/*.md cite no section doc/behaviour/ lacks: a
   citation there is "[behaviour/]<doc> §<id>..." (inside doc/behaviour/, a
   bare "§<id>" is a section of the same document), and no text points at
   the upstream spec (spec/*.md, "spec §", "Appendix A/B/C", its path).
"""
import glob
import os
import re
import sys

DOCS = ("execution", "flows", "suspension", "budgets", "README")
ID = r"(?:[0-9]+(?:\.[0-9]+)*|[A-C](?:\.[0-9]+)?)"
GAP = r"(?:[ \t]+|[ \t]*\n[ \t]*(?:\*|--)?[ \t]*)"
SEP = r"(?:,?" + GAP + r"and" + GAP + r"|," + GAP + r"|[ \t]*(?:-|‥)[ \t]*)"
CONT = r"(?:" + SEP + r"§" + ID + r"(?![0-9.]*[0-9]))*"
ITEM = re.compile(r"§(" + ID + r")")
HEADING = re.compile(r"^#{1,6} +(?:§)?(" + ID + r")(?=[ .]|$)", re.M)
UPSTREAM = re.compile(r"spec/[a-z]+\.md|\bspec §|\bspec Appendix|Appendix [ABC]\b|/work/shared|ARCHITECTURE(?:\.md)? §")


def headings(root):
    out = {}
    for d in DOCS:
        p = os.path.join(root, "doc", "behaviour", d + ".md")
        if os.path.exists(p):
            out[d] = set(HEADING.findall(open(p, encoding="utf-8").read()))
    return out


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def check_file(path, rel, heads, strict, own_doc):
    """Problems of one file: unresolved citations and stray §."""
    text = open(path, encoding="utf-8").read()
    problems = []
    prefix = r"behaviour/" if strict else r"(?:behaviour/)?"
    group = re.compile(r"(?<![\w/])" + prefix + r"(" + "|".join(DOCS) + r")(?:\.md)?" + GAP +
                       r"(§" + ID + r"(?![0-9]|\.[0-9])" + CONT + r")")
    covered = []
    for m in group.finditer(text):
        doc = m.group(1)
        for sec in ITEM.findall(m.group(2)):
            if doc not in heads:
                problems.append("%s:%d: no doc/behaviour/%s.md" % (rel, line_of(text, m.start()), doc))
            elif sec not in heads[doc]:
                problems.append("%s:%d: behaviour/%s has no section %s" % (rel, line_of(text, m.start()), doc, sec))
        covered.append((m.start(), m.end()))
    # a whole document named without a section
    for m in re.finditer(r"(?<![\w/])behaviour/([A-Za-z]+)(?![A-Za-z])", text):
        if re.match(r"\.md|/|" + GAP + r"§", text[m.end():]):
            continue
        if m.group(1) not in heads:
            problems.append("%s:%d: no doc/behaviour/%s.md" % (rel, line_of(text, m.start()), m.group(1)))
    # any other §: in doc/behaviour/ a section of the same document, elsewhere an error
    for m in re.finditer(r"§", text):
        if any(a <= m.start() < b for a, b in covered):
            continue
        if own_doc:
            bare = re.compile(ID + r"(?![0-9]|\.[0-9])").match(text, m.end())
            if bare and bare.group(0) in heads.get(own_doc, set()):
                continue
            problems.append("%s:%d: §%s is no section of behaviour/%s" %
                            (rel, line_of(text, m.start()), bare.group(0) if bare else "", own_doc))
        else:
            problems.append("%s:%d: a § that names no behaviour document: %s" %
                            (rel, line_of(text, m.start()), text[max(0, m.start() - 30):m.start() + 10].replace("\n", " ")))
    for m in UPSTREAM.finditer(text):
        problems.append("%s:%d: points at the upstream spec: %s" % (rel, line_of(text, m.start()), m.group(0)))
    return problems


def check_citations(root, heads, where, patterns):
    """One check: every citation in the files matching patterns ((folder, glob) under root)
    names a section of doc/behaviour/; prints its ok / not ok line."""
    files = sorted(p for d, g in patterns for p in glob.glob(os.path.join(root, d, g)))
    problems, n = [], 0
    for p in files:
        problems += check_file(p, os.path.relpath(p, root), heads, True, None)
        n += len(re.findall(r"behaviour/", open(p, encoding="utf-8").read()))
    desc = "every citation in %s (%d) names a section of doc/behaviour/" % (where, n)
    print(("not ok\t%s: %s" % (desc, "; ".join(problems[:20]))) if problems else "ok\t" + desc)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    heads = headings(root)
    missing = [d for d in DOCS if d not in heads]
    print(("not ok\tdoc/behaviour/ has its five documents: missing %s" % " ".join(missing)) if missing
          else "ok\tdoc/behaviour/ has its five documents")

    check_citations(root, heads, "src/ and sql/install/",
                    [("src", "*.[ch]"), ("sql/install", "*.sql")])
    check_citations(root, heads, "test/tap/ and test/isolation/specs/",
                    [("test/tap", "*.sql"), ("test/tap", "*.psql"), ("test/isolation/specs", "*.spec")])

    docs = [os.path.join(root, "README.md"), os.path.join(root, "src", "README.md"),
            os.path.join(root, "test", "README.md")] + sorted(glob.glob(os.path.join(root, "doc", "**", "*.md"), recursive=True))
    problems = []
    for p in docs:
        if not os.path.exists(p):
            continue
        rel = os.path.relpath(p, root)
        own = None
        if rel.startswith(os.path.join("doc", "behaviour") + os.sep):
            own = os.path.splitext(os.path.basename(p))[0]
        problems += check_file(p, rel, heads, False, own)
    desc = "README.md, src/README.md and doc/ cite no section doc/behaviour/ lacks, and not the upstream spec"
    print(("not ok\t%s: %s" % (desc, "; ".join(problems[:20]))) if problems else "ok\t" + desc)


if __name__ == "__main__":
    main()
