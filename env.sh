export PYTHONPATH=/work/wt/lead
export MINDHIT_TEST_DB=mindhit_lead
export MINDHIT_TEST_KEY_PREFIX=mhlead
export MINDHIT_TEST_PORTS=23000-23999
cd /work/wt/lead
