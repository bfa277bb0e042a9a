//! Test support shared by the town tests.
#![allow(dead_code)]

pub mod internet;
pub mod mayor;
pub mod network;
pub mod rooms;
pub mod standin;
pub mod town;
