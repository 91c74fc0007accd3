"""The scheduler: runs each election's timed side effects once, on time or late."""
