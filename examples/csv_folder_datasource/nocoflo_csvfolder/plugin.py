"""The CSV folder datasource plugin: the hooks Nocoflo calls (entry point `csv_folder_datasource`
of group `nocoflo`).

A datasource of type `csvfolder` with the URL `csvfolder:///absolute/path/to/folder` shows every
`*.csv` file of the folder as a read-only table. Its options (the datasource's JSON
configuration) are `encoding`, `delimiter` and `sample_rows`: see datasource.py.
"""

from __future__ import annotations

from nocoflo_project.plugins import hookimpl

from . import __version__
from .datasource import SCHEME, CsvFolderDatasource


class CsvFolderDatasourcePlugin:
    name = "csv_folder_datasource"
    version = __version__
    plugin_api_version = "1.0"

    @hookimpl
    def get_datasource_class(self):
        return CsvFolderDatasource

    @hookimpl
    def get_supported_schemes(self):
        return [SCHEME]
