"""Stuck-data detector shared by the drivers.

Why: a sensor whose wire came off or whose converter hung often still answers, with the same
value forever. Real parts are noisy, so N identical readings in a row are a fault.
"""


class Stuck:
    """`feed(v)` is True from the `n`-th identical value in a row on (n <= 0: never)."""

    def __init__(self, n):
        self.n = n
        self.last = None
        self.count = 0

    def feed(self, v):
        if v == self.last:
            if self.count < self.n:
                self.count += 1
        else:
            self.last = v
            self.count = 0
        return self.n > 0 and self.count + 1 >= self.n
