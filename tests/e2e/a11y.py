"""Accessibility checks in the browser tests: axe-core (vendored, tests/e2e/vendor) run in
the page, keeping the violations a user of a screen reader or a keyboard would meet."""

from pathlib import Path

AXE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text(encoding="utf-8")
SERIOUS = ("serious", "critical")


def axe_violations(page, impacts=SERIOUS):
    """The page's axe-core violations of these impacts: [(rule id, impact, help, [targets])].
    axe is evaluated through the debugging protocol, so the page's CSP need not allow it."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE)
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ["violations"]});
        return r.violations.map(v => [v.id, v.impact, v.help, v.nodes.slice(0, 5).map(n => n.target.join(" "))]);
    }""")
    return [tuple(v[:3]) + (v[3],) for v in result if v[1] in impacts]
