# SPDX-License-Identifier: Apache-2.0
"""Bounded waits shared by the proxy's Python tests."""
import time


def until(pred, seconds, step=0.25):
    """pred() until it is truthy or seconds pass; its last value."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()
