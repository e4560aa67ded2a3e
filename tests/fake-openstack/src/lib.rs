//! A fake OpenStack for scs-capi's tests (being written).
