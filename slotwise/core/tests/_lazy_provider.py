"""A provider module that test_registry checks is imported only on first use."""


class LazyProvider:
    def __init__(self, answer=None):
        self.answer = answer
