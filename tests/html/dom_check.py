#!/usr/bin/env python3
"""Checks the DOM of an nraudit HTML report as Chromium built it
(chromium --headless --dump-dom): the verdict and the three hypotheses, the
charts and their points, and that nothing refers outside the page.

  dom_check.py DOM.html [--samples N | --min-samples N] [--charts N]
               [--expect-text TEXT ...] [--verdict-regex REGEX]

--samples N: every chart series has N points and the page says N samples.
--min-samples N: the page holds at least N samples; with 2 or more, every
series of a chart has one point per sample (fewer only where a value was
unknown), with fewer the page says "no time series".
Prints one line per check; exits 1 on the first failure.
"""
import argparse
import re
import sys
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent = tag, dict(attrs), parent
        self.children, self.text = [], []

    def classes(self):
        return (self.attrs.get("class") or "").split()

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()

    def all_text(self):
        return "".join(self.text) + "".join(c.all_text() for c in self.children)


class Tree(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", [], None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not self.root and n.tag != tag:
            n = n.parent
        if n is not self.root:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.text.append(data)


def fail(msg):
    print("dom_check: FAIL " + msg)
    sys.exit(1)


def ok(msg):
    print("dom_check: ok " + msg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dom")
    ap.add_argument("--samples", type=int)
    ap.add_argument("--min-samples", type=int)
    ap.add_argument("--charts", type=int)
    ap.add_argument("--expect-text", action="append", default=[])
    ap.add_argument("--verdict-regex", help="the verdict line must match (re.fullmatch)")
    args = ap.parse_args()

    tree = Tree()
    tree.feed(open(args.dom, encoding="utf-8").read())
    nodes = list(tree.root.walk())
    text = tree.root.all_text()

    # self-contained: nothing loaded, every link a fragment of this page
    for n in nodes:
        if n.tag in ("script", "link", "iframe", "object", "embed", "img", "base"):
            fail("element <%s> found" % n.tag)
        for a in ("src", "srcset", "data", "xlink:href", "action", "poster"):
            if a in n.attrs:
                fail("<%s %s=%r> refers outside the page" % (n.tag, a, n.attrs[a]))
        href = n.attrs.get("href")
        if href is not None and not href.startswith("#"):
            fail("<%s href=%r> is not a fragment link" % (n.tag, href))
        if "url(" in (n.attrs.get("style") or "") or (n.tag == "style" and "url(" in n.all_text()):
            fail("a style uses url()")
    if "http://" in text or "https://" in text:
        fail("a URL appears in the text")
    ok("self-contained: no scripts, links, images or URLs")

    title = next((n for n in nodes if n.tag == "title" and n.parent.tag == "head"), None)
    if title is None or not title.all_text().startswith("nraudit report: pid "):
        fail("no <title> with the pid")
    ok("title: " + title.all_text())

    verdict = [n for n in nodes if n.tag == "p" and "verdict" in n.classes()]
    if len(verdict) != 1 or not verdict[0].all_text().startswith("VERDICT: "):
        fail("expected one verdict paragraph")
    section = next((n for n in nodes if n.attrs.get("id") == "verdict"), None)
    if section is None:
        fail("no verdict section")
    sec_text = section.all_text()
    hyp = [n for n in section.walk() if n.tag == "table" and "hypotheses" in n.classes()]
    if hyp:
        for q in ("still in use?", "waiting to be finalized?", "gone but not freed?"):
            if q not in sec_text:
                fail("verdict does not ask %r" % q)
    elif "No rule allocated a handle yet" not in sec_text:
        fail("verdict has neither hypotheses nor the no-handle line")
    if args.verdict_regex and not re.fullmatch(args.verdict_regex, verdict[0].all_text()):
        fail("verdict %r does not match %r" % (verdict[0].all_text(), args.verdict_regex))
    ok("verdict: %s (%d hypotheses table%s)" % (verdict[0].all_text(), len(hyp), "" if len(hyp) == 1 else "s"))
    for t in args.expect_text:
        if t not in text:
            fail("text %r not found" % t)
        ok("text %r present" % t)

    over = next((n for n in nodes if n.attrs.get("id") == "over-time"), None)
    if over is None:
        fail("no over-time section")
    samples = int(over.attrs.get("data-samples", "-1"))
    if args.samples is not None and samples != args.samples:
        fail("page holds %d samples, expected %d" % (samples, args.samples))
    if args.min_samples is not None and samples < args.min_samples:
        fail("page holds %d samples, expected at least %d" % (samples, args.min_samples))
    charts = [n for n in nodes if n.tag == "svg" and "chart" in n.classes()]
    if samples < 2:
        if charts:
            fail("%d charts with fewer than 2 samples" % len(charts))
        if "no time series (start the agent with interval=SECONDS)" not in over.all_text():
            fail("fewer than 2 samples and no 'no time series' line")
        ok("%d sample%s: no charts, current values shown" % (samples, "" if samples == 1 else "s"))
        return 0
    ids = [c.attrs.get("id") for c in charts]
    for want in ("chart-outstanding", "chart-residue", "chart-memory"):
        if want not in ids:
            fail("chart %s missing (have %s)" % (want, ids))
    if args.charts is not None and len(charts) != args.charts:
        fail("%d charts, expected %d" % (len(charts), args.charts))
    stride_note = "marked)" in over.all_text()
    for c in charts:
        series = [g for g in c.walk() if g.tag == "g" and "series" in g.classes()]
        if not series:
            fail("%s has no series" % c.attrs.get("id"))
        if not any(g.tag == "g" and "legend" in g.classes() for g in c.walk()):
            fail("%s has no legend" % c.attrs.get("id"))
        if not any(t.tag == "text" for t in c.walk()):
            fail("%s has no tick labels" % c.attrs.get("id"))
        counts = []
        for g in series:
            pts = [p for p in g.walk() if p.tag == "circle" and "point" in p.classes()]
            if any(not any(t.tag == "title" and t.all_text() for t in p.children) for p in pts):
                fail("%s: a point without a <title> tooltip" % c.attrs.get("id"))
            if not any(p.tag == "polyline" for p in g.walk()):
                fail("%s: series %r without a polyline" % (c.attrs.get("id"), g.attrs.get("data-series")))
            counts.append(len(pts))
            if args.samples is not None and not stride_note and len(pts) != samples:
                fail("%s: series %r has %d points, expected %d" %
                     (c.attrs.get("id"), g.attrs.get("data-series"), len(pts), samples))
            if len(pts) > samples:
                fail("%s: series %r has %d points for %d samples" %
                     (c.attrs.get("id"), g.attrs.get("data-series"), len(pts), samples))
        ok("%s: %d series, points %s" % (c.attrs.get("id"), len(series), counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
