"""A plugin with a misspelt hook name: pluggy refuses it as an unknown hook."""

import pluggy

hookimpl = pluggy.HookimplMarker("nocoflo")


class TypoViewPlugin:
    @hookimpl
    def get_view_clas(self):
        return object
