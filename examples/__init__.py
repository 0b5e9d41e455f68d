"""Runnable example apps (`uvicorn examples.<name>.app:app`)."""
