"""The notes example app (see app.py); this folder is its deployment package root."""
