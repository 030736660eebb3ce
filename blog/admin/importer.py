"""(being written) The admin page that runs an import from an uploaded file."""
