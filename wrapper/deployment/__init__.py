"""The deployment files, generated from one description.

description.py  every service, image, user, capability, mount, health check, dependency and
                what differs per target (compose, the Swarm stack, the two Rancher 1.6 items)
texts.py        each file's header comment; the Rancher items' catalog questions
generator.py    builds each file from the two and writes it

`python -m wrapper.deployment` rewrites compose/docker-compose*.yml, compose/docker-stack*.yml
and rancher-catalog/templates/*/0/{docker-compose.yml.tpl,rancher-compose.yml};
tests/test_deployment_files.py fails while a committed file differs.
"""
