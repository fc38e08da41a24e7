"""The README stays true: every file it links exists, every config it names
loads, and CI runs the README's own test command."""
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
README = (ROOT / 'README.md').read_text()


def test_every_linked_path_exists():
    links = re.findall(r'\]\(([^)#]+)\)', README)
    local = [link for link in links if not link.startswith('http')]
    assert any(link.startswith('configs/') for link in local)
    missing = [link for link in local if not (ROOT / link).exists()]
    assert missing == []


def test_every_named_script_exists():
    scripts = set(re.findall(r'(tools/[\w/]+\.(?:py|sh))', README))
    assert 'tools/demo.sh' in scripts and 'tools/run_tests.sh' in scripts
    assert [s for s in scripts if not (ROOT / s).exists()] == []


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / '.ci' / 'run').read_text().strip().splitlines()
    last = [ln for ln in ci if ln and not ln.startswith(('#', 'set ', 'cd '))]
    assert last[-1] in README
