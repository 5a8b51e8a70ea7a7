//! whoami
