import warnings


def pytest_configure(config):
    # Most tests stop after a few epochs on purpose; tests about the warning
    # itself record warnings with simplefilter("always").
    warnings.filterwarnings("ignore", message=".*Maximum iterations.*")
