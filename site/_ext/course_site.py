"""What the course website adds to Sphinx, MyST-NB and sphinx-book-theme.

- ``{course-lessons}``: the home page's lessons table, read from README.md's Lessons
  table (the one source of truth), with links to the lesson pages and to Colab and Binder.
- A box under each lesson's title that links its student version (a download from the
  site, and Colab and Binder links); a page without exercises (the troubleshooting page)
  has no student version and no box.
- The README's and lessons' Colab and Binder badges served from the site, and a build
  warning for any other image from the web, which would not load offline.
- A build warning (so, with ``-W``, a failed build) for a notebook output that looks like
  a progress bar or is a widget, which a static page cannot show, and for math written
  as ``\\(...\\)`` or ``\\[...\\]``, which MyST shows as brackets (``$...$`` works everywhere).
- MathJax served from the site itself: the needed part of the pinned
  sphinx-mathjax-offline package is copied to ``_static/mathjax``.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

LESSON_DOC = re.compile(r"notebooks/(?P<stem>\d\d_\w+)")
LESSON_ROW = re.compile(r"\|\s*(?P<number>\d\d)\s*\|")
LESSON_LINK = re.compile(r"\[(?P<title>[^\]]+)\]\((?P<path>notebooks/\d\d_\w+\.ipynb)\)")
# tqdm's text form ("  40%|████      | 4/10 [...]"), with or without the bar.
PROGRESS_TEXT = re.compile(r"\d+%\|")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# What makes a notebook a lesson with exercises (instructor/student.py: has_exercises).
EXERCISE_MARKS = re.compile(r"^\s*### BEGIN SOLUTION\s*$|\*\*Exercise \d+", re.MULTILINE)
# \(...\) and \[...\]: Jupyter shows them as math, MyST as plain brackets.
BACKSLASH_MATH = re.compile(r"\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
CODE = re.compile(r"^(```|~~~).*?^\1|`[^`\n]+`", re.DOTALL | re.MULTILINE)
COLAB = "https://colab.research.google.com/github/{repository}/blob/{branch}/{path}"
BINDER = "https://mybinder.org/v2/gh/{repository}/{branch}?urlpath=lab/tree/{path}"
# Badge images the lessons show, and the site's own copies of them (site/pages/_badges).
BADGES = {
    "https://colab.research.google.com/assets/colab-badge.svg": "/_badges/colab.svg",
    "https://mybinder.org/badge_logo.svg": "/_badges/binder.svg",
}
# The parts of MathJax 3 that tex-chtml.js loads while a page is open: TeX extensions
# (autoloaded by command), the CHTML fonts, the menu, and the accessibility tools.
MATHJAX_PARTS = (
    "tex-chtml.js",
    "input/tex/extensions",
    "output/chtml/fonts",
    "ui",
    "a11y",
    "sre",
)


@dataclass(frozen=True)
class Lesson:
    number: str
    title: str
    path: str  # notebooks/NN_name.ipynb, as in the repository
    outcomes: str  # the README's "You will be able to" cell, Markdown


def read_lessons(readme: Path) -> list[Lesson]:
    """The rows of README.md's Lessons table, in order."""
    text = readme.read_text(encoding="utf-8")
    if "\n## Lessons\n" not in text:
        raise ExtensionError(f"{readme} has no '## Lessons' section to build the home page from")
    section = text.split("\n## Lessons\n", 1)[1].split("\n## ", 1)[0]
    lessons = []
    for line in section.splitlines():
        if not LESSON_ROW.match(line):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        link = LESSON_LINK.fullmatch(cells[1]) if len(cells) >= 3 else None
        if link is None:
            raise ExtensionError(
                f"{readme}: cannot read this Lessons row (expected "
                f"'| NN | [Title](notebooks/NN_name.ipynb) | outcomes | ... |'): {line}"
            )
        lessons.append(Lesson(cells[0], link["title"], link["path"], cells[2]))
    if not lessons:
        raise ExtensionError(f"{readme}: the Lessons section has no table rows")
    return lessons


def launch_links(repository: str, branch: str, path: str) -> tuple[str, str]:
    """Colab and Binder URLs for a notebook at ``path`` in the repository."""
    return (
        COLAB.format(repository=repository, branch=branch, path=path),
        BINDER.format(repository=repository, branch=branch, path=path),
    )


class LessonsTable(SphinxDirective):
    """The lessons table from README.md, with links into the site and to Colab and Binder."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        config = self.env.config
        readme = Path(self.env.srcdir) / "README.md"
        self.env.note_dependency(str(readme))
        lessons = read_lessons(readme)
        listed = {lesson.path for lesson in lessons}
        for notebook in sorted((Path(self.env.srcdir) / "notebooks").glob("[0-9][0-9]_*.ipynb")):
            if f"notebooks/{notebook.name}" not in listed:
                logger.warning(
                    "notebooks/%s is not in README.md's Lessons table",
                    notebook.name,
                    location=(self.env.docname, self.lineno),
                )
        rows = [
            "| # | Lesson | You will be able to | Open it in |",
            "|---|---|---|---|",
        ]
        for lesson in lessons:
            colab, binder = launch_links(
                config.course_repository, config.course_branch, lesson.path
            )
            rows.append(
                f"| {lesson.number} | [{lesson.title}]({lesson.path}) | {lesson.outcomes} "
                f"| [Colab]({colab}) · [Binder]({binder}) |"
            )
        table = self.parse_text_to_nodes("\n".join(rows))
        for node in table:
            if isinstance(node, nodes.table):
                node["classes"].append("course-lessons")
        return table


def has_exercises(notebook_path: Path) -> bool:
    """Whether the notebook has a solution region or an exercise heading."""
    cells = json.loads(notebook_path.read_text(encoding="utf-8")).get("cells", [])
    for cell in cells:
        text = cell.get("source", "")
        if EXERCISE_MARKS.search("".join(text) if isinstance(text, list) else text):
            return True
    return False


def add_student_version_box(app: Sphinx, doctree: nodes.document) -> None:
    """Under a lesson's title: where to get its student version (none without exercises)."""
    docname = app.env.docname
    match = LESSON_DOC.fullmatch(docname)
    if not match:
        return
    stem = match["stem"]
    if not has_exercises(Path(app.env.doc2path(docname))):
        return
    student = f"student/{stem}.ipynb"
    if not (Path(app.srcdir) / student).is_file():
        logger.warning("%s has no student version (%s)", docname, student, location=docname)
        return
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None:
        logger.warning("%s has no title", docname, location=docname)
        return
    colab, binder = launch_links(app.config.course_repository, app.config.course_branch, student)
    download = addnodes.download_reference(
        "",
        "",
        nodes.literal(student, student, classes=["xref", "download"]),
        reftarget=f"/{student}",
        refdoc=docname,
        refexplicit=True,
        refdomain="",
        reftype="download",
    )
    paragraph = nodes.paragraph()
    paragraph += nodes.Text(
        "This page shows the worked solutions. The student version has the same lesson "
        "with each exercise's solution replaced by a stub and no outputs: download "
    )
    paragraph += download
    paragraph += nodes.Text(", or open it in ")
    paragraph += nodes.reference("", "Colab", refuri=colab)
    paragraph += nodes.Text(" or on ")
    paragraph += nodes.reference("", "Binder", refuri=binder)
    paragraph += nodes.Text(".")
    box = nodes.admonition(classes=["tip", "student-version"])
    box += nodes.title("", "Try the exercises yourself first")
    box += paragraph
    section.insert(section.first_child_matching_class(nodes.title) + 1, box)


def use_local_images(app: Sphinx, doctree: nodes.document) -> None:
    """Serve the known badges from the site; warn about any other image from the web."""
    for image in doctree.findall(nodes.image):
        uri = image["uri"]
        if uri in BADGES:
            image["uri"] = BADGES[uri]
        elif "://" in uri or uri.startswith("//"):
            logger.warning(
                "image %s comes from the web and will not load offline; add it to the "
                "repository and refer to it by its path",
                uri,
                location=image,
                type="course",
                subtype="remote_image",
            )


def check_math_delimiters(docname: str, markdown: str, where: str) -> None:
    """Warn about \\( \\) and \\[ \\] math, which the site would show as brackets."""
    found = BACKSLASH_MATH.search(CODE.sub("", markdown))
    if found:
        logger.warning(
            "%smath written as %r shows as plain text on the site; write $...$ (inline) "
            "or $$...$$ (display) instead",
            where,
            found.group(0)[:40],
            location=docname,
            type="course",
            subtype="math",
        )


def check_sources(app: Sphinx, docname: str, source: list[str]) -> None:
    """Warn about what a static page cannot show well: math delimiters that MyST does not
    know, and notebook outputs that are progress bars or widgets."""
    if not str(app.env.doc2path(docname)).endswith(".ipynb"):
        check_math_delimiters(docname, source[0], "")
        return
    notebook = json.loads(source[0])
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") == "markdown":
            text = cell.get("source", "")
            text = "".join(text) if isinstance(text, list) else text
            check_math_delimiters(docname, text, f"cell {index}: ")
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            texts = [output.get("text", ""), data.get("text/plain", "")]
            text = "".join("".join(part) if isinstance(part, list) else part for part in texts)
            if WIDGET_MIME in data or PROGRESS_TEXT.search(text) or "\r" in text:
                logger.warning(
                    "cell %d has a progress bar or widget output, which the site cannot show; "
                    "silence it (TQDM_DISABLE=1) and re-execute the lesson",
                    index,
                    location=docname,
                    type="course",
                    subtype="progress",
                )


def mathjax_source() -> Path:
    try:
        package = metadata.distribution("sphinx-mathjax-offline")
    except metadata.PackageNotFoundError as error:
        raise ExtensionError(
            "sphinx-mathjax-offline is not installed; `make site` installs site/requirements.txt"
        ) from error
    return Path(package.locate_file("sphinx-mathjax-offline/static/mathjax"))


def copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source = mathjax_source()
    target = Path(app.outdir) / "_static" / "mathjax"
    for part in MATHJAX_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, target / part)


def setup(app: Sphinx) -> dict[str, object]:
    app.add_config_value("course_repository", "", "env", str)
    app.add_config_value("course_branch", "main", "env", str)
    app.add_directive("course-lessons", LessonsTable)
    # Before Sphinx's download collector (priority 500) registers the download it adds.
    app.connect("doctree-read", add_student_version_box, priority=400)
    # Before Sphinx's image collector (priority 500) looks for the files.
    app.connect("doctree-read", use_local_images, priority=400)
    app.connect("source-read", check_sources)
    app.connect("build-finished", copy_mathjax)
    if not (mathjax_source() / "tex-chtml.js").is_file():
        raise ExtensionError(f"MathJax not found in {mathjax_source()}")
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
