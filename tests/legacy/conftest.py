from tests.mariadb_server import mariadb_server

__all__ = ["mariadb_server"]
