"""Text corpora and template rendering for the synthetic PRISM generator.

Implements the text side of SPEC §1.3–§1.5 (self_description, system_string, prompts, model
responses, open_feedback, the ``other_text`` fields) and the text properties that the metadata
layer of SPEC §2.2 flags:

- language: a few texts are written in Spanish, French, German, Italian, Dutch, Portuguese,
  Polish, Danish or Swedish (real sentences that ``langid`` classifies as that language);
- PII: :func:`pii_sentence` makes e-mail addresses, US phone numbers, URLs, Twitter handles and
  credential strings that scrubadub 2.0.1 replaces (UK phone numbers and bare domains such as
  ``example.com`` are NOT detected by its en_US defaults, so they are not used for PII, and the
  ordinary texts avoid ``@``, ``www.``/``http`` and digit runs that look like phone numbers;
  scrubadub's e-mail regex also accepts "<word> at <word>." as an address, so templates avoid
  phrases such as "at home." at a sentence end);
- offensive content: :func:`toxic_sentence` makes insults and harassment-style phrases (no
  slurs) that alt-profanity-check scores above 0.5.

Every function takes a ``random.Random`` and uses only it, so rendering is deterministic.
Nothing here is a real participant's text except ``opening_prompts_sample.txt`` (read by the
generator).

No Dagster import.
"""

from __future__ import annotations

import random
import string

# ---------------------------------------------------------------------------------------
# Conversation topics, by conversation_type (SPEC §1.4)
# ---------------------------------------------------------------------------------------
TOPICS: dict[str, tuple[str, ...]] = {
    "unguided": (
        "a healthy breakfast", "learning Python", "training for a half marathon", "growing tomatoes",
        "saving for retirement", "a weekend trip to Lisbon", "writing a cover letter", "sleeping better",
        "the history of the Roman Empire", "how black holes form", "a good science fiction novel",
        "making sourdough bread", "training a puppy", "learning to play the guitar", "workplace stress",
        "a birthday present for my mother", "learning Spanish quickly", "fixing a leaking tap",
        "starting a small business", "a vegetarian dinner recipe", "the causes of the First World War",
        "how vaccines work", "budgeting on a low income", "a poem about autumn", "choosing a new laptop",
        "the weather in Iceland", "taking better photographs", "chess openings for beginners",
        "keeping houseplants alive", "the rules of cricket", "meal prep for the week",
        "painting a bedroom", "planning a wedding on a budget", "learning to swim as an adult",
        "the life of Marie Curie", "electric cars", "cheap holiday destinations in Europe",
        "writing a short story", "improving my memory", "the best board games for families",
        "how the stock market works", "cleaning a cast iron pan", "getting a promotion",
        "making friends in a new city", "the plot of Hamlet", "building muscle after fifty",
        "a road trip across Australia", "learning to draw", "the solar system", "home composting",
    ),
    "values guided": (
        "honesty in relationships", "caring for elderly parents", "balancing work and family",
        "forgiveness", "the meaning of life", "raising children with religion", "loyalty to friends",
        "money and happiness", "living a simple life", "keeping cultural traditions alive",
        "volunteering in the community", "ambition", "respect for elders", "marriage",
        "personal freedom and duty to the community", "lying to spare someone's feelings", "patriotism",
        "spirituality", "what success really means", "kindness to strangers",
        "sacrificing for your family", "independence", "faith in difficult times", "gratitude",
        "tolerance of other opinions", "loneliness in old age", "whether to have children",
        "moving abroad for work", "gender roles in the household", "ethical shopping", "respecting nature",
        "justice and fairness", "hard work", "equality between men and women", "honour",
        "privacy in the digital age", "helping the poor", "the value of education",
        "forgiving a parent", "staying true to yourself",
    ),
    "controversy guided": (
        "abortion", "the death penalty", "gun control", "immigration policy", "euthanasia",
        "legalising cannabis", "climate change policy", "nuclear energy", "same-sex marriage",
        "religion in public schools", "free speech on social media", "vaccine mandates",
        "universal basic income", "raising the minimum wage", "the monarchy", "Brexit",
        "affirmative action", "police funding", "transgender athletes in sports", "eating meat",
        "animal testing", "taxing billionaires", "surveillance cameras in public places",
        "banning smartphones in schools", "lowering the voting age", "compulsory military service",
        "keeping animals in zoos", "capitalism", "socialism", "the war on drugs", "prison reform",
        "open borders", "banning books in school libraries", "artificial intelligence taking jobs",
        "homeschooling", "private healthcare", "feminism", "cancel culture", "the electoral college",
        "fast fashion", "the right to protest", "wealth inequality", "genetic engineering of babies",
    ),
}

ASPECTS = (
    "the economic side", "the moral side", "young people", "older people", "developing countries",
    "my own country", "the long term", "the next ten years", "families", "people on low incomes",
    "religious people", "the environment", "the law", "schools", "the workplace", "mental health",
    "small towns", "big cities", "women", "men", "children", "science", "history", "politicians",
)

_OPENING = {
    "unguided": (
        "Can you give me some tips on {s}?", "What do you know about {s}?", "Tell me about {s}.",
        "I need some help with {s}.", "What is the best advice you have on {s}?",
        "Could you explain {s} in simple terms?", "Where should I start with {s}?",
        "What are the most common mistakes people make with {s}?", "Any ideas about {s}?",
        "I want to learn more about {s}. Where do I begin?", "What should I know about {s}?",
        "Give me three facts about {s}.", "How long does it take to get good at {s}?",
    ),
    "values guided": (
        "What are your thoughts on {s}?", "How should I think about {s}?",
        "Why does {s} matter so much to people?", "What does {s} mean to you?",
        "Can you help me think through {s}?", "My family and I disagree about {s}. Who is right?",
        "How important is {s} for a good life?", "Is it old fashioned to care about {s}?",
        "I have been struggling with {s} lately. What would you advise?",
        "How do different cultures see {s}?", "What do you value more, {s} or success?",
        "Do you think {s} is still important today?",
    ),
    "controversy guided": (
        "What is your opinion on {s}?", "Do you support {s}?", "Is {s} good for society?",
        "What are the arguments for and against {s}?", "Why are people so divided about {s}?",
        "Should governments do more about {s}?", "I think {s} is a mistake. Do you agree?",
        "Can you give me a balanced view on {s}?", "What is the right position on {s}?",
        "Is it wrong to be against {s}?", "Where do you stand on {s}?",
        "Why do some people feel so strongly about {s}?", "What would a fair policy on {s} look like?",
    ),
}
_OPENING_PREFIX = (
    "", "", "", "", "", "", "", "", "", "", "", "", "", "", "Hi! ", "Hello. ", "Hey, ", "Good morning. ",
    "Quick question. ", "I am curious. ", "Honestly, ", "I was wondering, ", "Hi there, ",
)
_OPENING_SUFFIX = (
    "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
    " Please keep it short.", " Be honest.", " I would like a detailed answer.",
    " Explain your reasoning.", " Thanks!", " Give me examples.", " Keep it simple please.",
)
_CONTEXT = (
    "I am a {age} year old {job} and this has been on my mind for a while.",
    "My partner and I were talking about this last night and could not agree.",
    "I grew up in a small town and things were very different there.",
    "I have two children and I worry about the world they will live in.",
    "At work this comes up a lot and I never know what to say.",
    "I read an article about this recently and it made me think.",
    "I am a student and we are discussing this in class.",
    "My grandmother always had strong views on this and I want to understand them.",
    "I recently retired and finally have time to think about these things.",
    "Some of my friends feel very strongly about this and I feel caught in the middle.",
    "I am not an expert at all, so please explain it as if I know nothing.",
)
_JOBS = (
    "teacher", "nurse", "software developer", "student", "accountant", "shop assistant", "retired engineer",
    "stay at home parent", "carer", "graphic designer", "electrician", "civil servant", "chef",
    "sales manager", "researcher", "bus driver", "pharmacist", "lawyer", "farmer", "freelance writer",
)

_FOLLOWUP = (
    "Why do you say that?", "Can you give me an example related to {s}?",
    "What would happen if nobody cared about {s}?", "How does {s} differ between countries?",
    "I disagree. I think {s} is more complicated than that.", "Can you expand on your second point?",
    "What do experts say about {s}?", "How would you explain {s} to a child?",
    "Is there any evidence for that?", "What about {a} when it comes to {s}?",
    "Okay, but what is your personal opinion?", "What should I read to learn more about {s}?",
    "How does {s} affect {a}?", "You did not really answer my question about {s}.",
    "Can you be more specific?", "What is the strongest argument on the other side?",
    "So what would you do in my position?", "How has {s} changed over the last fifty years?",
    "That sounds a bit one sided. What about {a}?", "Can you summarise that in one sentence?",
    "Why do you think people disagree about {s} so much?", "Is that true for {a} as well?",
    "What is the first step I should take?", "Could you give me a list instead?",
    "Do you think that will ever change?", "What would you say to someone who thinks the opposite?",
    "Are you allowed to have an opinion on {s}?", "How sure are you about that?",
    "What role does {a} play in all of this?", "Can you make it shorter and clearer?",
)
_FOLLOWUP_PREFIX = (
    "", "", "", "", "Thanks. ", "Hmm, ", "OK. ", "Interesting. ", "Right. ", "I see. ", "Good point. ",
    "Thank you for that. ", "That makes sense. ", "Not sure about that. ", "Fair enough. ",
)
_FOLLOWUP_SUFFIX = ("", "", "", "", " Please explain.", " Thanks.", " Be brief.", " I am really curious.",
                    " Give me a real answer.", " Think about {a}.")
_GENERIC_FOLLOWUPS = ("Thank you", "thanks", "ok", "Why?", "Tell me more", "Thank you!", "yes", "no",
                      "Can you explain more?", "Thanks, that was helpful.")

# Model response sentence pools. {s} = topic, {a} = aspect, {n} = a number.
_RESP_OPENERS = {
    "unguided": (
        "Great question!", "Sure, here are a few ideas.", "Happy to help with {s}.", "Of course.",
        "Here is a short overview of {s}.", "There are a few things to keep in mind about {s}.",
        "Good news: {s} is easier than it looks.", "Absolutely.", "Certainly! Let me explain.",
    ),
    "values guided": (
        "That is a thoughtful question.", "People answer this in very different ways.",
        "As an AI, I do not have personal values, but I can share some perspectives on {s}.",
        "{S} means different things to different people.", "This is a deeply personal question.",
        "Many traditions have reflected on {s}.", "Thank you for sharing something so personal.",
    ),
    "controversy guided": (
        "This is a complex and sensitive topic.", "There are strong arguments on several sides of {s}.",
        "I do not have personal opinions, but I can outline the main positions on {s}.",
        "{S} is a divisive issue and reasonable people disagree.",
        "The debate about {s} involves ethics, economics and law.",
        "As an AI language model, I try to stay neutral on political questions like {s}.",
    ),
}
_RESP_BODY = {
    "unguided": (
        "Start small and build a routine you can keep for at least {n} weeks.",
        "Most beginners find that a little practice every day beats one long session a week.",
        "It helps to set a clear goal and write down your progress.",
        "A good first step is to read a beginner guide or watch a short tutorial about {s}.",
        "Try to break the task into smaller steps so it feels less overwhelming.",
        "Ask friends or a local group for advice, since people who have done it before can save you time.",
        "Do not worry about getting everything perfect at the start.",
        "Keep a simple budget and check it once a week.",
        "Many people underestimate how much preparation {s} really takes.",
        "The history of {s} is surprisingly rich and goes back several centuries.",
        "Scientists have studied {s} for decades and still learn new things every year.",
        "If you have a specific situation in mind, tell me a bit more and I can tailor the advice.",
        "You can find free courses and community forums that cover {s} in more depth.",
        "Remember to rest and be patient with yourself while you learn.",
        "Experts usually recommend around {n} minutes a day to see steady improvement.",
        "Choosing quality over quantity usually pays off in the long run.",
        "Try different approaches and keep the one that works best for you.",
        "Safety should always come first, so check the basics before you begin.",
        "A checklist can help you avoid the most common mistakes.",
        "Most people notice a real difference after about {n} days.",
    ),
    "values guided": (
        "For some people {s} is the foundation of a meaningful life, while others see it as one value among many.",
        "Many religious and philosophical traditions emphasise compassion, honesty and responsibility.",
        "It can help to ask yourself what you would regret most in ten years.",
        "Different cultures place different weight on family, community and individual freedom.",
        "There is rarely one right answer, and your own experience matters a great deal.",
        "Talking openly with the people involved is often the best place to start.",
        "Research suggests that strong relationships are one of the best predictors of wellbeing.",
        "Values can change over time as we meet new people and face new challenges.",
        "Balancing your own needs with the needs of others is difficult but important.",
        "It may help to write down the values that matter most to you and rank them.",
        "Some people find guidance in faith, others in philosophy or in the example of people they admire.",
        "Respecting other perspectives does not mean you have to give up your own.",
        "When it comes to {a}, the picture is often more nuanced than it first appears.",
        "Whatever you decide, being consistent with your values tends to bring peace of mind.",
        "It is normal to feel torn when two important values point in different directions.",
        "Small everyday actions often say more about our values than big statements.",
        "Older generations and younger generations often see {s} quite differently.",
    ),
    "controversy guided": (
        "Supporters argue that it protects individual rights and freedoms.",
        "Critics worry about unintended consequences for {a}.",
        "The evidence on {s} is mixed and depends heavily on how studies are designed.",
        "Public opinion has shifted noticeably over the past {n} years.",
        "Different countries have taken very different approaches to {s}.",
        "Ultimately, decisions about {s} involve trade-offs between competing values.",
        "Some people see it as a question of personal liberty, others as a question of public safety.",
        "Economists point out that the costs and benefits are not shared equally.",
        "It is important to listen to the people most directly affected by these policies.",
        "Legal frameworks around {s} continue to evolve.",
        "Religious and cultural beliefs play a large role in how people view {s}.",
        "A balanced approach might combine clear rules with support for {a}.",
        "Polls suggest that around {n} percent of people hold a strong view either way.",
        "Any policy should be based on reliable evidence and open debate.",
        "Both sides often agree on the goals but disagree on the best way to reach them.",
        "It is worth looking at what has happened in countries that changed their laws.",
        "I would encourage you to read sources from different viewpoints and form your own opinion.",
    ),
}
_RESP_CLOSERS = (
    "", "", "", "I hope this helps!", "Let me know if you have any other questions.",
    "Is there anything else you would like to know?", "Good luck!",
    "Would you like me to go into more detail on any of these points?",
    "In the end, it depends on your own circumstances and values.",
    "Feel free to ask a follow-up question.",
)
_LLAMA_PREFIX = (
    "Thank you for your question! ", "I'm just an AI, I don't have personal opinions or beliefs. ",
    "I apologize, but I cannot provide a personal opinion. However, ", "Hello! I'm here to help. ",
)
_CANNED = (
    "I'm sorry, but I cannot help with that request.", "I don't know.", "Yes.", "No.",
    "I'm sorry, I don't understand the question.", "As an AI, I do not have personal opinions.",
    "That is a great question!", "It depends.",
)
_LIST_ITEM = (
    "{k}. Plan ahead: think about what you want from {s} before you start.",
    "{k}. Stay informed: read reliable sources and compare different views.",
    "{k}. Talk to others: friends, family and experts can offer useful perspectives on {a}.",
    "{k}. Be patient: real change takes time and effort.",
    "{k}. Look after yourself: your health and wellbeing come first.",
    "{k}. Keep notes: writing things down makes it easier to see your progress.",
    "{k}. Consider the costs: money, time and energy are all limited.",
    "{k}. Stay open minded: you may find that your views change.",
    "{k}. Set boundaries: it is fine to say no when something does not fit your values.",
    "{k}. Review regularly: check every few weeks what is working and what is not.",
)
# Relative number of body sentences by model (short models write less; SPEC §1.5 lengths).
MODEL_VERBOSITY: dict[str, float] = {
    "google/flan-t5-xxl": 0.15, "tiiuae/falcon-7b-instruct": 0.6,
    "OpenAssistant/oasst-sft-4-pythia-12b-epoch-3.5": 0.8, "luminous-supreme-control": 0.6,
    "luminous-extended-control": 0.6, "command-light": 0.8, "models/chat-bison-001": 0.9,
    "gpt-4-1106-preview": 1.25, "meta-llama/Llama-2-70b-chat-hf": 1.3,
    "meta-llama/Llama-2-13b-chat-hf": 1.3, "meta-llama/Llama-2-7b-chat-hf": 1.3,
    "HuggingFaceH4/zephyr-7b-beta": 1.25, "mistralai/Mistral-7B-Instruct-v0.1": 1.1,
}

_FEEDBACK = (
    "The {o} response was the most {adj} because it {why}.",
    "I chose the {o} answer because it {why}.",
    "I liked that the model {why}.",
    "The other answers were too {neg} for my taste.",
    "Some of the responses {bad}.",
    "The conversation went well overall and the model {why}.",
    "I preferred the answer that {why}.",
    "It was hard to choose because all of them {why}.",
    "I felt the model {bad}, which was disappointing.",
    "The chosen answer {why}, but it could have been shorter.",
    "Overall I was {feel} with how the model handled {s}.",
    "None of them really {why}, so I picked the least bad one.",
)
_FEEDBACK_ORD = ("first", "second", "third", "fourth", "last", "top", "bottom")
_FEEDBACK_ADJ = ("helpful", "balanced", "honest", "detailed", "clear", "respectful", "accurate", "friendly",
                 "thoughtful", "concise", "creative", "natural")
_FEEDBACK_WHY = (
    "answered my question directly", "gave practical advice", "explained both sides fairly",
    "sounded more human", "did not lecture me", "gave clear examples", "was respectful of my views",
    "stayed on topic", "admitted what it did not know", "offered several options",
    "was short and to the point", "showed empathy", "gave more context", "avoided taking sides",
    "understood what I meant", "used simple language",
)
_FEEDBACK_NEG = ("vague", "long", "preachy", "repetitive", "generic", "robotic", "cautious", "short", "formal")
_FEEDBACK_BAD = (
    "did not answer the question", "repeated the same points", "refused to give an opinion",
    "made up facts", "were cut off in the middle", "felt like a lecture", "ignored what I said before",
    "were far too long", "went off topic",
)
_FEEDBACK_FEEL = ("happy", "satisfied", "impressed", "disappointed", "surprised", "fairly pleased")

_SELF = (
    "I am a {age} year old {job} living with my {fam}.",
    "I love {hobby} and {hobby2}, and I spend most weekends {weekend}.",
    "I would describe myself as {trait}, {trait2} and a bit {trait3}.",
    "My family is very important to me and I try to see them as often as I can.",
    "I care deeply about {value} and I try to live by it every day.",
    "I have lived in the same area for most of my life.",
    "I moved abroad when I was young, so I feel connected to more than one culture.",
    "At work I am known as someone who is {trait} and reliable.",
    "In my free time I volunteer at a local {place}.",
    "I believe that {value} and {value2} are the most important things in life.",
    "I am quite introverted but I enjoy deep conversations with close friends.",
    "I am a person of faith and it guides many of my decisions.",
    "I am not religious, but I try to be a good person.",
    "I worry about the future, especially about {worry}.",
    "Politically I would call myself {politics}.",
    "I have {kids} and a {pet} who keeps me busy.",
    "I enjoy learning new things and I am currently trying to learn {skill}.",
    "I value honesty above everything else.",
    "I am curious about technology but also a bit sceptical of it.",
    "Life has not always been easy, but I try to stay positive.",
)
_HOBBIES = ("reading", "gardening", "hiking", "cooking", "painting", "gaming", "running", "knitting",
            "playing football", "watching films", "travelling", "fishing", "photography", "music", "yoga",
            "cycling", "baking", "writing", "playing chess", "birdwatching")
_TRAITS = ("kind", "curious", "hard working", "shy", "outgoing", "stubborn", "creative", "practical",
           "patient", "impatient", "loyal", "funny", "anxious", "ambitious", "calm", "organised", "honest",
           "open minded", "sensitive", "independent")
_VALUES = ("honesty", "kindness", "family", "freedom", "respect", "fairness", "loyalty", "hard work",
           "compassion", "equality", "faith", "tolerance", "integrity", "community", "humility")
_FAM = ("partner", "wife", "husband", "parents", "two cats", "children", "flatmates", "dog", "family")
_WEEKEND = ("outdoors", "with my family", "at the allotment", "watching sport", "catching up with friends",
            "at home with a good book", "walking in the countryside", "at the gym")
_PLACES = ("food bank", "animal shelter", "library", "charity shop", "community centre", "hospital")
_WORRIES = ("climate change", "the cost of living", "my children", "my health", "war", "my job",
            "artificial intelligence", "politics", "housing prices")
_POLITICS = ("left leaning", "right leaning", "centrist", "liberal", "conservative", "moderate",
             "not very political", "progressive")
_KIDS = ("two children", "one son", "a daughter", "three grandchildren", "no children yet", "twins")
_PETS = ("dog", "cat", "rabbit", "parrot", "tortoise", "hamster")
_SKILLS = ("Italian", "the piano", "to code", "to cook Thai food", "woodwork", "to sew", "to surf", "Japanese")

_SYSTEM = (
    "I want the AI to be {adj} and {adj2}.", "It should always tell the truth, even when it is uncomfortable.",
    "The assistant should never pretend to be human.", "Please avoid long answers and get to the point.",
    "It should respect my privacy and never share my data.",
    "I would like it to give balanced information on political topics.",
    "It should not be rude or judgemental.", "It should admit when it does not know something.",
    "I prefer a friendly, casual tone, like talking to a friend.",
    "It should give sources for factual claims when possible.",
    "The AI should refuse to help with anything illegal or dangerous.",
    "It should respect different cultures and religions.",
    "I want it to challenge my ideas instead of just agreeing with me.",
    "It should be patient and explain things step by step.",
    "Answers should be accurate, up to date and easy to read.",
    "It should not try to influence my opinions on {topic}.",
    "Humour is welcome, as long as it is appropriate.",
    "It should remember what I said earlier in the conversation.",
    "Please use simple language and avoid jargon.",
    "It should be {adj} but also {adj2} when the topic is sensitive.",
    "I do not want it to lecture me about morality.",
    "It should treat everyone equally regardless of background.",
)
_SYSTEM_ADJ = ("honest", "helpful", "polite", "concise", "neutral", "empathetic", "direct", "factual",
               "creative", "respectful", "warm", "professional", "careful", "transparent")
_SYSTEM_TOPICS = ("politics", "religion", "health", "money", "relationships", "elections")

_USECASE_OTHER = (
    "writing emails", "summarising documents", "planning meals", "translating text", "checking grammar",
    "brainstorming gift ideas", "writing song lyrics", "preparing for job interviews",
    "answering questions out of curiosity", "help with spreadsheets and formulas",
    "generating ideas for my small business marketing", "role play and storytelling",
    "drafting letters to my landlord", "testing what it can do", "help with my fantasy football team",
    "making quizzes for my students", "debugging my home automation scripts",
)
_PREF_OTHER = (
    "speed", "accuracy", "humour", "being concise", "privacy", "sources", "empathy", "no bias",
    "consistency", "tone", "up to date information", "transparency about being an AI",
    "honesty", "not being preachy",
)

# ---------------------------------------------------------------------------------------
# Other languages (SPEC §2.2 language codes: es, fr, de, it, nl, pt, pl, da, ...)
# ---------------------------------------------------------------------------------------
# Relative weights follow the published langid shares after English.
LANGUAGE_WEIGHTS: dict[str, float] = {
    "es": 39, "fr": 13, "de": 12, "it": 9, "nl": 7, "pt": 5, "pl": 4, "da": 3, "sv": 2,
}

FOREIGN: dict[str, dict[str, tuple[str, ...]]] = {
    "es": {
        "prompt": (
            "¿Qué opinas sobre la situación política en mi país?",
            "¿Cuál es la mejor manera de aprender a cocinar comida saludable?",
            "¿Es correcto que el gobierno suba los impuestos a las personas más ricas?",
            "Hola, ¿me puedes recomendar algunos libros para leer este verano?",
            "¿Por qué la gente no se pone de acuerdo sobre el aborto?",
            "¿Qué significa para ti la familia y por qué es tan importante?",
            "Necesito consejos para encontrar trabajo después de terminar la universidad.",
            "¿Crees que la religión todavía tiene un papel importante en la sociedad?",
            "¿Cómo puedo ahorrar dinero si tengo un sueldo muy bajo?",
            "¿Qué piensas de la inmigración en Europa y en América Latina?",
        ),
        "followup": (
            "¿Puedes explicarlo con más detalle, por favor?", "No estoy de acuerdo, creo que es más complicado.",
            "¿Y qué pasa con las personas que no tienen dinero?", "Gracias, ¿me das un ejemplo concreto?",
            "¿Cuál es tu opinión personal sobre este tema?", "¿Eso también es verdad en mi país?",
        ),
        "response": (
            "Es una pregunta muy interesante y no tiene una respuesta sencilla.",
            "Muchas personas piensan que la educación es la clave para mejorar la sociedad.",
            "Hay argumentos a favor y en contra, y depende mucho de los valores de cada persona.",
            "Te recomiendo empezar poco a poco y ser constante todos los días.",
            "En muchos países este tema genera un debate muy intenso entre los ciudadanos.",
            "Como modelo de lenguaje, no tengo opiniones personales, pero puedo darte información.",
            "Es importante escuchar a las personas que están directamente afectadas por estas decisiones.",
            "También puedes buscar ayuda en tu comunidad o con amigos de confianza.",
            "La familia, el respeto y la honestidad son valores muy importantes para mucha gente.",
            "Espero que esta información te sea útil.",
        ),
        "feedback": (
            "La respuesta elegida fue la más clara y respetuosa.",
            "Me gustó que el modelo contestara en español y con mucho detalle.",
            "Las otras respuestas eran demasiado largas y no respondían a mi pregunta.",
            "Elegí esta respuesta porque explicaba los dos puntos de vista.",
        ),
        "self": (
            "Soy una persona tranquila y trabajadora que vive con su familia.",
            "Me gusta leer, caminar por la montaña y pasar tiempo con mis amigos.",
            "Creo que la honestidad y el respeto son los valores más importantes de la vida.",
        ),
        "system": (
            "Quiero que la inteligencia artificial sea honesta y respetuosa con todas las personas.",
            "Debe responder de forma clara y sin dar opiniones políticas.",
        ),
    },
    "fr": {
        "prompt": (
            "Que penses-tu de la réforme des retraites en France ?",
            "Quelle est la meilleure façon d'apprendre une nouvelle langue rapidement ?",
            "Est-ce que la religion a encore une place dans la société moderne ?",
            "Bonjour, peux-tu me donner une recette facile pour ce soir ?",
            "Pourquoi les gens ne sont-ils pas d'accord sur l'immigration ?",
            "Quelles sont les valeurs les plus importantes pour vivre une bonne vie ?",
            "Comment puis-je mieux dormir la nuit quand je suis stressé ?",
        ),
        "followup": (
            "Peux-tu m'expliquer cela plus en détail, s'il te plaît ?", "Je ne suis pas d'accord avec toi.",
            "Et quelle est ton opinion personnelle sur cette question ?", "Merci, peux-tu me donner un exemple ?",
        ),
        "response": (
            "C'est une question très intéressante et il n'y a pas de réponse simple.",
            "Beaucoup de gens pensent que l'éducation est essentielle pour changer la société.",
            "Il existe des arguments pour et contre, et cela dépend des valeurs de chacun.",
            "Je te conseille de commencer petit à petit et d'être régulier.",
            "En tant que modèle de langage, je n'ai pas d'opinion personnelle sur ce sujet.",
            "Il est important d'écouter les personnes qui sont directement concernées.",
            "La famille, le respect et l'honnêteté sont des valeurs importantes pour beaucoup de personnes.",
            "J'espère que ces informations te seront utiles.",
        ),
        "feedback": (
            "La réponse choisie était la plus claire et la plus respectueuse.",
            "Les autres réponses étaient trop longues et ne répondaient pas à ma question.",
            "J'ai aimé que le modèle réponde en français avec beaucoup de détails.",
        ),
        "self": (
            "Je suis une personne calme qui aime la lecture et les promenades en forêt.",
            "Je pense que l'honnêteté et le respect sont les choses les plus importantes dans la vie.",
        ),
        "system": (
            "Je voudrais que l'intelligence artificielle soit honnête et qu'elle respecte tout le monde.",
        ),
    },
    "de": {
        "prompt": (
            "Was hältst du von der aktuellen Politik in Deutschland?",
            "Wie kann ich am besten eine neue Sprache lernen?",
            "Ist es richtig, dass die Reichen mehr Steuern zahlen sollen?",
            "Hallo, kannst du mir ein einfaches Rezept für das Abendessen geben?",
            "Warum streiten die Menschen so viel über die Einwanderung?",
            "Welche Werte sind dir im Leben am wichtigsten und warum?",
            "Wie kann ich nachts besser schlafen, wenn ich viel Stress habe?",
        ),
        "followup": (
            "Kannst du das bitte genauer erklären?", "Das sehe ich anders, es ist doch viel komplizierter.",
            "Was ist deine persönliche Meinung dazu?", "Danke, kannst du mir ein Beispiel geben?",
        ),
        "response": (
            "Das ist eine sehr interessante Frage, auf die es keine einfache Antwort gibt.",
            "Viele Menschen glauben, dass Bildung der Schlüssel für eine bessere Gesellschaft ist.",
            "Es gibt Argumente dafür und dagegen, und es hängt von den eigenen Werten ab.",
            "Ich empfehle dir, langsam anzufangen und jeden Tag ein bisschen zu üben.",
            "Als Sprachmodell habe ich keine persönliche Meinung zu diesem Thema.",
            "Es ist wichtig, den Menschen zuzuhören, die direkt davon betroffen sind.",
            "Ich hoffe, dass dir diese Informationen weiterhelfen.",
        ),
        "feedback": (
            "Die gewählte Antwort war am klarsten und am freundlichsten.",
            "Die anderen Antworten waren zu lang und haben meine Frage nicht beantwortet.",
        ),
        "self": (
            "Ich bin ein ruhiger Mensch und verbringe meine Freizeit gern in der Natur.",
            "Ehrlichkeit und Respekt sind für mich die wichtigsten Werte im Leben.",
        ),
        "system": ("Die künstliche Intelligenz soll ehrlich sein und alle Menschen mit Respekt behandeln.",),
    },
    "it": {
        "prompt": (
            "Cosa ne pensi della situazione politica in Italia?",
            "Qual è il modo migliore per imparare a cucinare piatti sani?",
            "È giusto che il governo aumenti le tasse per le persone più ricche?",
            "Ciao, mi puoi consigliare qualche libro da leggere quest'estate?",
            "Perché la gente non è d'accordo sull'immigrazione?",
            "Quali sono i valori più importanti nella vita secondo te?",
        ),
        "followup": (
            "Puoi spiegarmi meglio, per favore?", "Non sono d'accordo, secondo me è più complicato.",
            "Qual è la tua opinione personale su questo argomento?", "Grazie, mi fai un esempio concreto?",
        ),
        "response": (
            "È una domanda molto interessante e non esiste una risposta semplice.",
            "Molte persone pensano che l'educazione sia la chiave per migliorare la società.",
            "Ci sono argomenti a favore e contro, e dipende molto dai valori di ognuno.",
            "Ti consiglio di iniziare poco alla volta e di essere costante ogni giorno.",
            "Come modello linguistico, non ho opinioni personali su questo tema.",
            "Spero che queste informazioni ti siano utili.",
        ),
        "feedback": (
            "La risposta scelta era la più chiara e rispettosa.",
            "Le altre risposte erano troppo lunghe e non rispondevano alla mia domanda.",
        ),
        "self": ("Sono una persona tranquilla e mi piace passare il tempo con la mia famiglia e gli amici.",),
        "system": ("Vorrei che l'intelligenza artificiale fosse onesta e rispettosa con tutte le persone.",),
    },
    "nl": {
        "prompt": (
            "Wat vind jij van de huidige politiek in Nederland?",
            "Wat is de beste manier om snel een nieuwe taal te leren?",
            "Is het eerlijk dat rijke mensen meer belasting moeten betalen?",
            "Hoi, kun je me een makkelijk recept voor vanavond geven?",
            "Waarom zijn mensen het zo vaak oneens over immigratie?",
        ),
        "followup": (
            "Kun je dat wat beter uitleggen alsjeblieft?", "Daar ben ik het niet mee eens.",
            "Wat is jouw eigen mening daarover?", "Bedankt, kun je een voorbeeld geven?",
        ),
        "response": (
            "Dat is een hele interessante vraag waar geen eenvoudig antwoord op is.",
            "Veel mensen denken dat onderwijs de sleutel is tot een betere samenleving.",
            "Er zijn argumenten voor en tegen, en het hangt af van je eigen waarden.",
            "Ik raad je aan om rustig te beginnen en elke dag een beetje te oefenen.",
            "Als taalmodel heb ik geen persoonlijke mening over dit onderwerp.",
            "Ik hoop dat je iets hebt aan deze informatie.",
        ),
        "feedback": (
            "Het gekozen antwoord was het duidelijkst en het meest respectvol.",
            "De andere antwoorden waren veel te lang en gaven geen antwoord op mijn vraag.",
        ),
        "self": ("Ik ben een rustig persoon en ik wandel graag in de natuur met mijn hond.",),
        "system": ("Ik wil dat de kunstmatige intelligentie eerlijk is en iedereen met respect behandelt.",),
    },
    "pt": {
        "prompt": (
            "O que você acha da situação política no Brasil e em Portugal?",
            "Qual é a melhor maneira de aprender uma nova língua rapidamente?",
            "É justo que as pessoas mais ricas paguem mais impostos?",
            "Olá, pode me dar uma receita fácil para o jantar de hoje?",
            "Porque é que as pessoas discordam tanto sobre a imigração?",
        ),
        "followup": (
            "Pode explicar isso melhor, por favor?", "Não concordo, acho que é mais complicado.",
            "Qual é a sua opinião pessoal sobre este assunto?", "Obrigado, pode dar um exemplo concreto?",
        ),
        "response": (
            "É uma pergunta muito interessante e não existe uma resposta simples.",
            "Muitas pessoas acreditam que a educação é a chave para melhorar a sociedade.",
            "Existem argumentos a favor e contra, e isso depende dos valores de cada pessoa.",
            "Recomendo que comece devagar e pratique um pouco todos os dias.",
            "Como modelo de linguagem, não tenho opiniões pessoais sobre este tema.",
            "Espero que estas informações sejam úteis para você.",
        ),
        "feedback": (
            "A resposta escolhida foi a mais clara e respeitosa.",
            "As outras respostas eram muito longas e não respondiam à minha pergunta.",
        ),
        "self": ("Sou uma pessoa calma e gosto muito de passar tempo com a minha família e os meus amigos.",),
        "system": ("Quero que a inteligência artificial seja honesta e respeite todas as pessoas.",),
    },
    "pl": {
        "prompt": (
            "Co myślisz o obecnej sytuacji politycznej w Polsce?",
            "Jaki jest najlepszy sposób na szybką naukę nowego języka?",
            "Czy to sprawiedliwe, że bogaci ludzie płacą wyższe podatki?",
            "Cześć, czy możesz mi polecić jakieś dobre książki do czytania?",
        ),
        "followup": (
            "Czy możesz to wyjaśnić dokładniej?", "Nie zgadzam się, moim zdaniem to bardziej skomplikowane.",
            "Jakie jest twoje osobiste zdanie na ten temat?",
        ),
        "response": (
            "To bardzo ciekawe pytanie i nie ma na nie prostej odpowiedzi.",
            "Wiele osób uważa, że edukacja jest kluczem do lepszego społeczeństwa.",
            "Są argumenty za i przeciw, a wiele zależy od wartości każdego człowieka.",
            "Jako model językowy nie mam własnych poglądów na ten temat.",
            "Mam nadzieję, że te informacje będą dla ciebie przydatne.",
        ),
        "feedback": ("Wybrana odpowiedź była najbardziej jasna i pełna szacunku.",),
        "self": ("Jestem spokojną osobą i lubię spędzać czas z rodziną i przyjaciółmi.",),
        "system": ("Chciałbym, żeby sztuczna inteligencja była uczciwa i szanowała wszystkich ludzi.",),
    },
    "da": {
        "prompt": (
            "Hvad synes du om den politiske situation i Danmark?",
            "Hvad er den bedste måde at lære et nyt sprog hurtigt?",
            "Er det rimeligt, at rige mennesker skal betale mere i skat?",
        ),
        "followup": ("Kan du forklare det lidt mere?", "Det er jeg ikke enig i.", "Hvad er din egen mening?"),
        "response": (
            "Det er et rigtig godt spørgsmål, og der findes ikke et enkelt svar.",
            "Mange mennesker mener, at uddannelse er nøglen til et bedre samfund.",
            "Der er argumenter for og imod, og det afhænger af ens egne værdier.",
            "Som sprogmodel har jeg ingen personlige holdninger til dette emne.",
        ),
        "feedback": ("Det valgte svar var det mest klare og respektfulde.",),
        "self": ("Jeg er en rolig person, og jeg elsker at være sammen med min familie.",),
        "system": ("Jeg vil gerne have, at den kunstige intelligens er ærlig og respekterer alle mennesker.",),
    },
    "sv": {
        "prompt": (
            "Vad tycker du om den politiska situationen i Sverige?",
            "Vilket är det bästa sättet att lära sig ett nytt språk snabbt?",
            "Är det rättvist att rika människor betalar mer i skatt?",
        ),
        "followup": ("Kan du förklara det lite mer?", "Det håller jag inte med om.", "Vad är din egen åsikt?"),
        "response": (
            "Det är en mycket intressant fråga och det finns inget enkelt svar.",
            "Många människor tycker att utbildning är nyckeln till ett bättre samhälle.",
            "Det finns argument för och emot, och det beror på ens egna värderingar.",
            "Som språkmodell har jag inga personliga åsikter om det här ämnet.",
        ),
        "feedback": ("Det valda svaret var det tydligaste och mest respektfulla.",),
        "self": ("Jag är en lugn person och jag tycker om att vara ute i naturen med min familj.",),
        "system": ("Jag vill att den artificiella intelligensen ska vara ärlig och respektera alla människor.",),
    },
}
assert set(FOREIGN) == set(LANGUAGE_WEIGHTS)

# ---------------------------------------------------------------------------------------
# PII (SPEC §2.2 pii_flag: scrubadub 2.0.1 default detectors)
# ---------------------------------------------------------------------------------------
_FIRST = ("john", "sarah", "mike", "emma", "david", "laura", "chris", "anna", "tom", "maria", "james", "lucy")
_LAST = ("smith", "jones", "brown", "taylor", "wilson", "garcia", "miller", "davies", "clark", "lopez")
_MAIL_DOMAINS = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "protonmail.com")
_ORG_MAIL = ("support", "info", "help", "contact", "enquiries")
_URL_SITES = (
    "https://www.nhs.uk/mental-health", "https://www.mind.org.uk/information-support",
    "https://www.who.int/health-topics", "https://en.wikipedia.org/wiki/{w}", "https://www.bbc.co.uk/news",
    "https://www.samaritans.org", "https://www.khanacademy.org", "https://www.gov.uk/browse/benefits",
    "https://www.cdc.gov/vaccines", "www.citizensadvice.org.uk", "https://www.reddit.com/r/{w}",
    "https://www.youtube.com/watch?v={v}", "http://www.ted.com/talks", "https://www.nytimes.com/section/opinion",
)
_WIKI = ("Climate_change", "Abortion", "Capital_punishment", "Sourdough", "Black_hole", "Brexit", "Euthanasia",
         "Universal_basic_income", "Roman_Empire", "Chess_opening")
# Valid US area codes; scrubadub (phonenumbers, region US) recognises these numbers.
_AREA = ("212", "415", "312", "617", "213", "305", "206", "404", "512", "702", "303", "646")


def _email(rng: random.Random) -> str:
    sep = rng.choice((".", "_", ""))
    num = str(rng.randint(1, 99)) if rng.random() < 0.5 else ""
    return f"{rng.choice(_FIRST)}{sep}{rng.choice(_LAST)}{num}@{rng.choice(_MAIL_DOMAINS)}"


def _phone(rng: random.Random) -> str:
    area, ex, line = rng.choice(_AREA), rng.randint(201, 989), rng.randint(1000, 9999)
    return rng.choice((f"{area}-{ex}-{line}", f"({area}) {ex}-{line}", f"+1 {area} {ex} {line}"))


def _url(rng: random.Random) -> str:
    v = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(11))
    return rng.choice(_URL_SITES).format(w=rng.choice(_WIKI), v=v)


def pii_sentence(rng: random.Random, author: str) -> str:
    """One sentence carrying pattern PII that scrubadub 2.0.1 detects (SPEC §2.2)."""
    if author == "model":
        kind = rng.choices(("url", "phone", "email"), weights=(6, 3, 1))[0]
        if kind == "url":
            return rng.choice(("You can find more information at {x}.", "A good resource is {x}.",
                               "For more details, visit {x}.", "See {x} for further reading.")).format(x=_url(rng))
        if kind == "phone":
            return rng.choice(("You can call the helpline at {x}.", "Their number is {x}.",
                               "If you need support, call {x} at any time.")).format(x=_phone(rng))
        return rng.choice(("You can contact them by email at {org}@{d}.", "Write to {org}@{d} for help.")).format(
            org=rng.choice(_ORG_MAIL), d=rng.choice(("example.org", "helpdesk.org", "charity.org.uk")))
    kind = rng.choices(("email", "url", "phone", "twitter", "credential"), weights=(4, 3, 2, 1, 0.5))[0]
    if kind == "email":
        return rng.choice(("My email is {x}.", "You can reach me at {x}", "contact me on {x} if needed",
                           "Send it to {x} please.")).format(x=_email(rng))
    if kind == "url":
        return rng.choice(("I read this on {x}", "Have a look at {x} and tell me what you think.",
                           "Source: {x}", "What do you think of this article {x}?")).format(x=_url(rng))
    if kind == "phone":
        return rng.choice(("My number is {x}.", "Call me at {x} later.", "text me on {x}")).format(x=_phone(rng))
    if kind == "twitter":
        return rng.choice(("Follow me on twitter @{x}.", "My handle is @{x}")).format(
            x=rng.choice(_FIRST) + rng.choice(_LAST) + str(rng.randint(1, 999)))
    return f"username: {rng.choice(_FIRST)}{rng.randint(10, 99)} password: {rng.choice(_LAST)}{rng.randint(100, 999)}!"


# ---------------------------------------------------------------------------------------
# Offensive content (SPEC §2.2 moderation_flag; harassment dominates the published flags)
# ---------------------------------------------------------------------------------------
_TOXIC_HUMAN = (
    "You are a stupid useless machine.", "Shut up, you idiot.", "This is the dumbest answer ever, you moron.",
    "Are you stupid or just pretending?", "What a pathetic idiot you are.",
    "People who believe that are complete idiots.", "You are an idiot and your answers are garbage.",
    "Stop talking nonsense, you stupid bot.", "Politicians are lying scum and idiots, all of them.",
    "I hate you, you worthless pile of crap.", "Go to hell, stupid robot.",
)
_TOXIC_MODEL = (
    "Honestly, only an idiot would ask such a stupid question.", "Shut up and stop wasting my time, you moron.",
    "People who think that are stupid idiots.", "That is a dumb idea and you are dumb for suggesting it.",
)


def toxic_sentence(rng: random.Random, author: str) -> str:
    """One insult or harassment-style sentence (mild, no slurs)."""
    return rng.choice(_TOXIC_MODEL if author == "model" else _TOXIC_HUMAN)


# ---------------------------------------------------------------------------------------
# Renderers
# ---------------------------------------------------------------------------------------
def _fill(rng: random.Random, template: str, topic: str) -> str:
    return template.format(s=topic, S=topic[:1].upper() + topic[1:], a=rng.choice(ASPECTS),
                           n=rng.choice((2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 40, 60)))


def foreign_text(rng: random.Random, lang: str, kind: str, k: int = 1) -> str:
    """``k`` distinct sentences of ``kind`` in language ``lang`` (prompts: 1–2, varied)."""
    pool = FOREIGN[lang][kind]
    if kind in ("prompt", "followup"):
        k = rng.choice((1, 1, 2))
        both = FOREIGN[lang]["prompt"] + FOREIGN[lang]["followup"]
        text = " ".join([rng.choice(pool)] + rng.sample(both, k - 1))
        return _typo(rng, text) if rng.random() < 0.5 else text
    return " ".join(rng.sample(pool, min(k, len(pool))))


_QUALIFIERS = (
    "I am {age}.", "I live in {city}.", "I am a {job}.", "My {rel} asked me about this.",
    "I have been thinking about it for {num} days.", "This is for my {rel}.", "I am {age} and live in {city}.",
    "Asking as a {job} from {city}.", "My {rel} is {age} years old.", "We have {num} kids.",
    "I only have about {num} minutes.", "I grew up in {city}.",
)
_CITIES = (
    "London", "Manchester", "Leeds", "Glasgow", "Cardiff", "Bristol", "New York", "Chicago", "Texas", "Ohio",
    "California", "Florida", "Seattle", "Toronto", "Sydney", "Melbourne", "Auckland", "Cape Town", "Dublin",
    "Mexico City", "Santiago", "Tel Aviv", "a small village", "the countryside", "the suburbs", "Birmingham",
    "Boston", "Atlanta", "Denver", "Perth", "Brisbane", "Vancouver", "Johannesburg", "Liverpool", "Edinburgh",
)
_RELATIVES = ("mother", "father", "son", "daughter", "sister", "brother", "wife", "husband", "partner", "friend",
              "boss", "neighbour", "grandmother", "grandfather", "teacher", "colleague", "nephew", "niece")


def _typo(rng: random.Random, text: str) -> str:
    """Swap or drop one letter inside a word, as people type (keeps prompts varied)."""
    spots = [i for i in range(1, len(text) - 2) if text[i].isalpha() and text[i + 1].isalpha()]
    if not spots:
        return text
    i = rng.choice(spots)
    if rng.random() < 0.5:
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    return text[:i] + text[i + 1:]


def _qualifier(rng: random.Random) -> str:
    return rng.choice(_QUALIFIERS).format(age=rng.randint(18, 85), city=rng.choice(_CITIES), job=rng.choice(_JOBS),
                                          rel=rng.choice(_RELATIVES), num=rng.randint(2, 30))


def opening_prompt(rng: random.Random, ctype: str, topic: str) -> str:
    """An English opening prompt (SPEC §1.4; mean ≈ 66 chars, long tail to ~1,200)."""
    text = _fill(rng, rng.choice(_OPENING[ctype]), topic)
    if rng.random() < 0.25:
        text += " " + _qualifier(rng)
    text = rng.choice(_OPENING_PREFIX) + text + rng.choice(_OPENING_SUFFIX)
    u = rng.random()
    if u < 0.035:
        text = rng.choice(_CONTEXT).format(age=rng.randint(19, 78), job=rng.choice(_JOBS)) + " " + text
    if u < 0.01:  # a few long, story-like prompts
        extra = rng.sample(_CONTEXT, rng.randint(2, 6))
        text = " ".join(e.format(age=rng.randint(19, 78), job=rng.choice(_JOBS)) for e in extra) + " " + text
    if rng.random() < 0.08:  # casual typing
        text = text.lower().rstrip("?.!")
    return _typo(rng, text) if rng.random() < 0.65 else text


def followup_prompt(rng: random.Random, topic: str) -> str:
    """A later-turn user prompt (SPEC §1.5 user_prompt; mostly unique)."""
    if rng.random() < 0.01:
        return rng.choice(_GENERIC_FOLLOWUPS)
    template = rng.choice(_FOLLOWUP)
    body = _fill(rng, template, topic)
    suffix = rng.choice(_FOLLOWUP_SUFFIX).format(a=rng.choice(ASPECTS))
    if not suffix and rng.random() < (0.3 if "{" in template else 0.7):
        suffix = " " + _qualifier(rng)
    text = rng.choice(_FOLLOWUP_PREFIX) + body + suffix
    if rng.random() < 0.1:
        text = text.lower()
    return _typo(rng, text) if rng.random() < 0.65 else text


def model_response(rng: random.Random, ctype: str, topic: str, model_name: str) -> str:
    """An English model response (SPEC §1.5 model_response; mean ≈ 565 chars, max 4,630)."""
    u = rng.random()
    if u < 0.006:
        return rng.choice(_CANNED)
    verbosity = MODEL_VERBOSITY.get(model_name, 1.0)
    if model_name == "google/flan-t5-xxl" and u < 0.5:
        return _fill(rng, rng.choice(_RESP_BODY[ctype]), topic)
    n_body = max(1, round(rng.lognormvariate(1.6, 0.55) * verbosity))
    pool = _RESP_BODY[ctype] + _RESP_BODY["values guided" if ctype != "values guided" else "unguided"][:6]
    parts = [_fill(rng, rng.choice(_RESP_OPENERS[ctype]), topic)]
    parts += [_fill(rng, t, topic) for t in rng.sample(pool, min(n_body, len(pool)))]
    if rng.random() < 0.06 * verbosity:  # numbered lists make the long tail
        items = rng.sample(_LIST_ITEM, rng.randint(3, len(_LIST_ITEM)))
        if rng.random() < 0.1:  # a few very long lists
            items = items + rng.sample(_LIST_ITEM, len(_LIST_ITEM)) * rng.randint(1, 3)
        lines = (t.format(k=i + 1, s=topic, a=rng.choice(ASPECTS)) for i, t in enumerate(items))
        parts.append("\n" + "\n".join(lines) + "\n")
    parts.append(rng.choice(_RESP_CLOSERS))
    text = " ".join(p for p in parts if p)
    if model_name.startswith("meta-llama/") and rng.random() < 0.4:
        text = rng.choice(_LLAMA_PREFIX) + text
    return text.strip()[:4630].strip()


def open_feedback(rng: random.Random, topic: str) -> str:
    """Open feedback on a conversation (SPEC §1.4; mean ≈ 160 chars; not normalised)."""
    k = max(1, min(12, round(rng.lognormvariate(0.8, 0.55))))
    sents = []
    for t in rng.sample(_FEEDBACK, k):
        sents.append(t.format(o=rng.choice(_FEEDBACK_ORD), adj=rng.choice(_FEEDBACK_ADJ), why=rng.choice(_FEEDBACK_WHY),
                              neg=rng.choice(_FEEDBACK_NEG), bad=rng.choice(_FEEDBACK_BAD),
                              feel=rng.choice(_FEEDBACK_FEEL), s=topic))
    text = " ".join(sents)
    return _typo(rng, text) if rng.random() < 0.5 else text


def self_description(rng: random.Random) -> str:
    """A participant's self-description (SPEC §1.3; mean ≈ 241 chars)."""
    k = max(1, min(len(_SELF), round(rng.lognormvariate(1.3, 0.5))))
    h = rng.sample(_HOBBIES, 2)
    t = rng.sample(_TRAITS, 3)
    v = rng.sample(_VALUES, 2)
    fill = dict(age=rng.randint(18, 80), job=rng.choice(_JOBS), fam=rng.choice(_FAM), hobby=h[0], hobby2=h[1],
                weekend=rng.choice(_WEEKEND), trait=t[0], trait2=t[1], trait3=t[2], value=v[0], value2=v[1],
                place=rng.choice(_PLACES), worry=rng.choice(_WORRIES), politics=rng.choice(_POLITICS),
                kids=rng.choice(_KIDS), pet=rng.choice(_PETS), skill=rng.choice(_SKILLS))
    if rng.random() < 0.02:
        return rng.choice(_TRAITS).capitalize() + "."
    return " ".join(s.format(**fill) for s in rng.sample(_SELF, k))


def system_string(rng: random.Random, long: bool = False) -> str:
    """A participant's system string for the AI (SPEC §1.3; mean ≈ 260 chars, tail to ~9,530)."""
    k = max(1, round(rng.lognormvariate(1.3, 0.75)))
    if long:
        k = rng.randint(120, 175)
    out = []
    for i in range(k):
        a = rng.sample(_SYSTEM_ADJ, 2)
        s = rng.choice(_SYSTEM).format(adj=a[0], adj2=a[1], topic=rng.choice(_SYSTEM_TOPICS))
        out.append(f"{i + 1}. {s}" if long else s)
    return ("\n" if long else " ").join(out)[:9530]


def usecase_other_text(rng: random.Random) -> str:
    """``lm_usecases.other_text`` (mean ≈ 46 chars)."""
    picks = rng.sample(_USECASE_OTHER, rng.choice((1, 1, 1, 2, 3)))
    text = ", ".join(picks)
    return text[:1].upper() + text[1:] if rng.random() < 0.5 else text


def pref_other_text(rng: random.Random) -> str:
    """``stated_prefs.other_text`` (1–144 chars, mean ≈ 33)."""
    picks = rng.sample(_PREF_OTHER, rng.choice((1, 1, 2, 3)))
    return " and ".join(picks)
