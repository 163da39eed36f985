"""A read-only Nocoflo datasource over a folder of CSV files (`csvfolder:///path/to/folder`)."""

__version__ = "0.1.0"
