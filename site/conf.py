"""Sphinx configuration for the course website (`make site`).

The source folder is build/site-src, which `make site` fills with fresh copies of the
pages in site/pages/, of README.md and of the notebooks/ and student/ folders, so the
lessons keep the paths they have in the repository (notebooks/01_tensors.ipynb becomes
notebooks/01_tensors.html) and the launch buttons point at the same paths on GitHub.
Nothing is executed: the pages show the outputs committed in the notebooks.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

SITE = Path(__file__).resolve().parent
sys.path.insert(0, str(SITE / "_ext"))

# The one place the repository is named (site/course.toml).
with open(SITE / "course.toml", "rb") as config_file:
    course = tomllib.load(config_file)
course_repository: str = course["repository"]
course_branch: str = course["branch"]

project = "PyTorch from Zero"
author = "the course authors"
html_title = project
html_show_copyright = False

extensions = ["myst_nb", "course_site"]

root_doc = "index"
# README.md is only included by other pages; student/ is offered as downloads.
exclude_patterns = ["README.md", "student", "**/.ipynb_checkpoints"]

# Notebooks are shown as committed, never executed; their markdown is MyST with $math$.
nb_execution_mode = "off"
# One box for a cell's printed lines, as in Jupyter (a training loop prints one per epoch).
nb_merge_streams = True
# Anything a lesson printed to stderr (a progress bar, a warning) fails the build.
nb_output_stderr = "warn"
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# MathJax comes from the pinned sphinx-mathjax-offline package, copied into
# _static/mathjax by course_site, so math renders without a network.
mathjax_path = "mathjax/tex-chtml.js"

html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_favicon = "_static/favicon.svg"
html_last_updated_fmt = None
html_copy_source = True
html_show_sourcelink = False
html_theme_options = {
    "repository_url": f"https://github.com/{course_repository}",
    "repository_branch": course_branch,
    # Pages keep their repository paths (notebooks/NN_name), so no prefix.
    "path_to_docs": "",
    "use_repository_button": True,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "extra_footer": "The course is free to use and adapt under the MIT License.",
    "launch_buttons": {
        "colab_url": "https://colab.research.google.com",
        "binderhub_url": "https://mybinder.org",
        "notebook_interface": "jupyterlab",
    },
}
