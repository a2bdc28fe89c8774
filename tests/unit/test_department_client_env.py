"""A department's system takes its broker account from the environment, and never prints its password."""
from services.department_client.client import amqp_uri_from_env, redacted


def test_a_department_system_takes_its_broker_account_from_the_environment():
    assert amqp_uri_from_env({}) == "amqp://guest:guest@127.0.0.1:5672/"
    assert amqp_uri_from_env({"CHUISHAO_AMQP_URI": "amqp://dept-x:pw@b:5672/v", "AMQP_URI": "amqp://o"}) == \
        "amqp://dept-x:pw@b:5672/v"
    assert amqp_uri_from_env({"AMQP_URI": "amqp://guest:guest@broker:5672/chuishao",
                              "CHUISHAO_AMQP_USER": "dept-chengguan", "CHUISHAO_AMQP_PASSWORD": "p@ss/1"}) == \
        "amqp://dept-chengguan:p%40ss%2F1@broker:5672/chuishao"
    assert redacted("amqp://dept-x:secret@b:5672/v") == "amqp://dept-x:***@b:5672/v"
    assert redacted("amqp://b:5672/") == "amqp://b:5672/"


def test_several_broker_nodes_each_get_the_departments_account():
    nodes = "amqp://guest:guest@rabbit-0:5672/chuishao;amqp://guest:guest@rabbit-1:5672/chuishao"
    env = {"AMQP_URI": nodes, "CHUISHAO_AMQP_USER": "dept-chengguan", "CHUISHAO_AMQP_PASSWORD": "pw"}
    assert amqp_uri_from_env(env) == ("amqp://dept-chengguan:pw@rabbit-0:5672/chuishao;"
                                      "amqp://dept-chengguan:pw@rabbit-1:5672/chuishao")
    assert amqp_uri_from_env({"AMQP_URIS": "amqp://a:5672/, amqp://b:5672/"}) == "amqp://a:5672/;amqp://b:5672/"
    assert redacted(amqp_uri_from_env(env)) == ("amqp://dept-chengguan:***@rabbit-0:5672/chuishao;"
                                                "amqp://dept-chengguan:***@rabbit-1:5672/chuishao")
