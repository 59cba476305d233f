"""The training lab: model (torch), data rendering, training and evaluation; `amssfx-lab`.

Needs the `train` extra. The product (`amssfx`, the app, the API) never imports it."""
