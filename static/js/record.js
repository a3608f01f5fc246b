// record
