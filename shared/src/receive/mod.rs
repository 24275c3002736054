//! The receiver pipeline (filled in below).
