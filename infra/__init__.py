"""What ews-pipeline runs on and against: the local stack and the EWS simulator."""
