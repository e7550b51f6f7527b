"""Audit routes of the REST API (included by config/api_urls.py)."""

urlpatterns = []
