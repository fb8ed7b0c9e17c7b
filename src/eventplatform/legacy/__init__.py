"""Legacy EventLogging: the beacon and its capsule, the MariaDB tables per schema revision, the cleaner."""
