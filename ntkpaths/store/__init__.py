"""Datasets on disk: zarr I/O shared by every kind (:mod:`.io`) and the sweep schema (:mod:`.sweep`).

Load any finished ntkpaths dataset with :func:`load`; write an in-memory one
with :func:`write`. Training datasets have their schema in
:mod:`ntkpaths.training.dataset`.
"""
from .io import (DONE_DIR, SCHEMAS, StoreError, check_output_folder, check_results_fit, check_writable,
                 create_template, done_markers, finalize, is_dataset, load, locked, probe_folder, read_stored, version,
                 write, write_region)
from .sweep import (REQUIRED_VARS, SCHEMA, SHARED_DEPTHS_NOTE, build_dataset, cell_dims, check_input_file,
                    check_raw_memory, config_of, create, empty_raw, provenance, put_block, raw_dataset, reopen,
                    resumable_config, sweep_raw_names, write_block)

__all__ = [
    # any dataset
    "load", "write", "StoreError", "SCHEMAS", "locked", "probe_folder", "check_writable",
    "check_output_folder", "check_results_fit", "is_dataset", "create_template", "write_region", "done_markers", "read_stored", "finalize", "version", "DONE_DIR",
    # sweeps
    "SCHEMA", "REQUIRED_VARS", "SHARED_DEPTHS_NOTE", "create", "write_block", "reopen", "resumable_config",
    "check_input_file", "build_dataset", "raw_dataset", "empty_raw", "put_block", "provenance", "config_of",
    "cell_dims", "check_raw_memory", "sweep_raw_names",
]
