"""A plugin that loads but fails whenever it is asked for its view class."""

import pluggy

hookimpl = pluggy.HookimplMarker("nocoflo")


class RaisingViewPlugin:
    @hookimpl
    def get_view_class(self):
        raise ValueError("the chart library crashed")

    @hookimpl
    def get_view_priority(self):
        return 50
