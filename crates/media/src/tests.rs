//! Tests of the crate-level pipeline over captured sysfs/udev trees.
