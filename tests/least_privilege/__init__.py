"""Least privilege proven by behaviour: the AWS calls the handlers make, checked against the IAM
policies template.yaml gives their functions once SAM has transformed it."""
