"""Model definitions: STGAT and CSTA (HCN with coupled spatial-temporal attention).

`build_model(config, platform)` turns `config.model` into a Flax module: `config.model.name` picks
the class and every other key of `config.model` is a field of that class, so a typo is an error;
the keys ``csta_{name}`` of a model with a ``csta_config`` field set that field's ``name``
(:class:`~stgat_jax.models.csta.CSTAConfig`).
``conv_impl='auto'`` becomes ``'cpu'`` on the CPU and ``'xla'`` on TPU and GPU, for the platform
of the devices the model will run on (under ahead-of-time compilation, not this process's own).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections

from stgat_jax.models import csta, stgat

MODELS = {"stgat": stgat.STGAT, "hcn": csta.HCN, "csta_cnn": csta.CSTACNN}
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


def build_model(config: ml_collections.ConfigDict, platform: str | None = None):
    """The model of `config.model`, with the class count and input shape of `config.dataset`.

    `platform` ('cpu', 'tpu', 'gpu'; default: this process's backend) resolves ``conv_impl='auto'``.
    """
    kwargs = config.model.to_dict()
    name = kwargs.pop("name")
    if name not in MODELS:
        raise ValueError(f"config.model.name={name!r}; expected one of {sorted(MODELS)}")
    cls = MODELS[name]
    fields = {f.name for f in dataclasses.fields(cls)} - {"parent", "name"}
    csta_keys = {}
    if "csta_config" in fields:  # config.model.csta_{name} sets CSTAConfig.{name}
        csta_keys = {f"csta_{f.name}": f.name for f in dataclasses.fields(csta.CSTAConfig)}
        fields = fields - {"csta_config"} | set(csta_keys)
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise ValueError(f"config.model has keys {unknown} that {cls.__name__} does not take; "
                         f"its fields are {sorted(fields)}")
    if csta_keys:
        kwargs["csta_config"] = csta.CSTAConfig(
            **{csta_keys[key]: kwargs.pop(key) for key in list(kwargs) if key in csta_keys})
    if "dtype" in kwargs:
        if kwargs["dtype"] not in DTYPES:
            raise ValueError(f"config.model.dtype={kwargs['dtype']!r}; expected one of {sorted(DTYPES)}")
        kwargs["dtype"] = DTYPES[kwargs["dtype"]]
    if kwargs.get("conv_impl") == "auto":
        kwargs["conv_impl"] = "cpu" if (platform or jax.default_backend()) == "cpu" else "xla"
    for key in ("blocks",):
        if key in kwargs:
            kwargs[key] = tuple(tuple(b) for b in kwargs[key])
    kwargs["num_classes"] = config.dataset.num_classes
    kwargs["in_channels"] = config.data.channels
    if name == "stgat":
        kwargs.setdefault("graph", config.dataset.graph)
        kwargs.setdefault("num_frames", config.data.window_frames)
    else:
        kwargs.setdefault("num_frames", config.data.window_frames)
        kwargs.setdefault("num_joints", config.dataset.num_joints)
    return cls(**kwargs)
